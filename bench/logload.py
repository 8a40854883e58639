"""Scenario 5: the delivery log and attempt lists with a million attempts in the database.

The rows are written by ``generate_series`` in a few statements (seconds, not minutes): one
tenant, ten endpoints, one event and one delivery per four attempts (three failures then a
success), spread over the last 20 days. Pages are then fetched through Django's test client in
this process — the full middleware, view, serializer or template stack, without an HTTP server —
and timed: the first page and a page half-way down (a keyset cursor), through the API and the
dashboard.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

ATTEMPTS_PER_DELIVERY = 4
ENDPOINTS = 10


def load(attempts: int, receiver_base: str) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from endpoints.models import Endpoint, EventType, Membership, Tenant
    from endpoints.services import api_key_create

    tenant = Tenant.objects.create(slug="s5", name="s5 (a million attempts)")
    event_type, _ = EventType.objects.get_or_create(name="bench.ping")
    endpoints = Endpoint.objects.bulk_create(
        [
            Endpoint(tenant=tenant, url=f"{receiver_base}/ok/s5-{i}", enabled=False)
            for i in range(ENDPOINTS)
        ]
    )
    endpoint_ids = [e.pk for e in endpoints]
    deliveries = max(1, attempts // ATTEMPTS_PER_DELIVERY)
    params = {
        "tenant": tenant.pk,
        "event_type": event_type.pk,
        "n": deliveries,
        "endpoints": endpoint_ids,
        "k": ENDPOINTS,
        "per": ATTEMPTS_PER_DELIVERY,
        "span": 20 * 86400,
    }
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO deliveries_event (id, body, body_is_payload, channels, tags, created_at,
                                          fanned_out_at, event_type_id, tenant_id)
            SELECT 'msg_s5_' || g,
                   '{"type":"bench.ping","timestamp":"2025-01-01T00:00:00.000Z","data":{"n":'
                       || g || '}}',
                   false, '[]'::jsonb, '[]'::jsonb,
                   now() - make_interval(secs => %(span)s * (%(n)s - g)::float8 / %(n)s),
                   now(), %(event_type)s, %(tenant)s
            FROM generate_series(1, %(n)s) AS g
            """,
            params,
        )
        cur.execute(
            """
            INSERT INTO deliveries_delivery (status, attempt_count, scheduled_attempts,
                manual_requested, last_attempt_at, last_status_code, last_error, cancel_reason,
                created_at, finished_at, endpoint_id, event_type_id, tenant_id, event_id)
            SELECT 'succeeded', %(per)s, %(per)s, false, e.created_at, 200, '', '',
                   e.created_at, e.created_at, (%(endpoints)s::text[])[1 + g %% %(k)s],
                   %(event_type)s, %(tenant)s, e.id
            FROM generate_series(1, %(n)s) AS g
            JOIN deliveries_event e ON e.id = 'msg_s5_' || g
            ORDER BY g
            """,
            params,
        )
        cur.execute(
            """
            INSERT INTO deliveries_attempt (number, trigger, started_at, duration_ms, request_url,
                request_headers, response_status, response_headers, response_body,
                response_body_encoding, error, endpoint_id, delivery_id)
            SELECT a, 'scheduled', d.created_at + make_interval(secs => a * 5), 12,
                   'http://127.0.0.1/ok/' || d.endpoint_id,
                   '{"content-type": "application/json", "webhook-id": "msg"}'::jsonb,
                   CASE WHEN a = %(per)s THEN 200 ELSE 500 END,
                   '{"content-type": "text/plain"}'::jsonb,
                   CASE WHEN a = %(per)s THEN 'ok' ELSE 'failing on purpose' END,
                   'utf8', '', d.endpoint_id, d.id
            FROM deliveries_delivery d CROSS JOIN generate_series(1, %(per)s) AS a
            WHERE d.tenant_id = %(tenant)s
            ORDER BY d.id, a
            """,
            params,
        )
        cur.execute("ANALYZE deliveries_event, deliveries_delivery, deliveries_attempt")
        cur.execute("SELECT count(*) FROM deliveries_attempt")
        total_attempts = cur.fetchone()[0]
    load_seconds = time.perf_counter() - t0
    user = get_user_model().objects.create_user(username="bench-s5", password="unused-Pa55word!")  # noqa: S106
    Membership.objects.create(user=user, tenant=tenant, role=Membership.Role.ADMIN)
    _, key = api_key_create(tenant=tenant, name="bench")
    return {
        "tenant": tenant,
        "user": user,
        "key": key,
        "endpoint": endpoint_ids[0],
        "deliveries": deliveries,
        "attempts": total_attempts,
        "load_seconds": round(load_seconds, 1),
    }


def _time(client: Any, url: str, requests: int, **headers: str) -> dict[str, Any]:
    from bench.infra import pct

    response = client.get(url, **headers)  # warm: templates, caches, connection
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.content[:300]!r}")
    samples = []
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get(url, **headers)
        samples.append(time.perf_counter() - t0)
        assert response.status_code == 200, url
    return {
        "p50_ms": round(pct(samples, 50) * 1000, 1),
        "p99_ms": round(pct(samples, 99) * 1000, 1),
        "max_ms": round(max(samples) * 1000, 1),
    }


def run(attempts: int, requests: int, receiver_base: str) -> dict[str, Any]:
    from urllib.parse import quote

    from django.test import Client
    from django.utils import timezone

    from deliveries.models import Delivery
    from platform_core.pagination import encode_cursor

    data = load(attempts, receiver_base)
    tenant, endpoint = data["tenant"], data["endpoint"]
    ids = list(
        Delivery.objects.filter(tenant=tenant).order_by("id").values_list("id", flat=True)[:1]
    )
    newest = Delivery.objects.filter(tenant=tenant).order_by("-id").values_list("id", flat=True)[0]
    middle = ids[0] + (newest - ids[0]) // 2
    cursor = encode_cursor(middle)
    delivery_id = middle - 1

    api = Client(HTTP_HOST="127.0.0.1")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {data['key']}"}
    dash = Client(HTTP_HOST="127.0.0.1")
    dash.force_login(data["user"])
    base = f"/api/v1/tenants/{tenant.slug}"
    stats = f"{base}/endpoints/{endpoint}/stats/"
    per_endpoint = data["deliveries"] * ATTEMPTS_PER_DELIVERY // ENDPOINTS
    since = quote((timezone.now() - timedelta(hours=24)).isoformat())
    pages = [
        ("API delivery log, first page", api, f"{base}/deliveries/", auth),
        ("API delivery log, page half-way", api, f"{base}/deliveries/?cursor={cursor}", auth),
        ("API endpoint's deliveries, first", api, f"{base}/deliveries/?endpoint={endpoint}", auth),
        (
            "API endpoint's deliveries, half-way",
            api,
            f"{base}/deliveries/?endpoint={endpoint}&cursor={cursor}",
            auth,
        ),
        ("API delivery with its attempts", api, f"{base}/deliveries/{delivery_id}/", auth),
        ("API endpoint stats, last 24 h", api, f"{stats}?since={since}", auth),
        (f"API endpoint stats, all time ({per_endpoint:,} attempts)", api, stats, auth),
        ("Dashboard delivery log, first page", dash, "/deliveries/", {}),
        ("Dashboard delivery log, half-way", dash, f"/deliveries/?cursor={cursor}", {}),
        ("Dashboard endpoint log, first", dash, f"/endpoints/{endpoint}/deliveries/", {}),
        (
            "Dashboard endpoint log, half-way",
            dash,
            f"/endpoints/{endpoint}/deliveries/?cursor={cursor}",
            {},
        ),
        ("Dashboard endpoint page (charts)", dash, f"/endpoints/{endpoint}/", {}),
        ("Dashboard delivery + attempts", dash, f"/deliveries/{delivery_id}/", {}),
    ]
    results = []
    for name, client, url, headers in pages:
        timing = _time(client, url, requests, **headers)
        results.append({"name": name, "url": url, **timing})
    return {
        "scenario": "5",
        "title": f"delivery log with {data['attempts']:,} attempts in the database",
        "attempts": data["attempts"],
        "deliveries": data["deliveries"],
        "load_seconds": data["load_seconds"],
        "requests_per_page": requests,
        "pages": results,
    }
