"""/metrics: access rules, counter and histogram values, and the gauges read from the database.

Counters live in files shared by every process of the run (multiprocess mode), so each test
compares a scrape taken after with one taken before.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from deliveries import publish_event
from deliveries.models import Delivery
from deliveries.services.endpoint_lifecycle import endpoint_disable
from deliveries.services.fanout import event_fan_out
from endpoints.models import Endpoint
from endpoints.services import endpoint_create, event_type_create
from platform_core import metrics
from tests.engine import deliver_due

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests"  # noqa: S105

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: Client | None = None) -> Samples:
    client = client or Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture(autouse=True)
def _token(settings):  # type: ignore[no-untyped-def]
    settings.WEBHOOKS_METRICS_TOKEN = TOKEN


@pytest.fixture
def staff_client() -> Client:
    user = get_user_model().objects.create_user("ops", password="pw-ops-1234", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def test_a_token_or_a_staff_session_is_required(staff_client, settings):
    assert Client().get("/metrics").status_code == 403
    assert Client(HTTP_AUTHORIZATION="Bearer wrong").get("/metrics").status_code == 403
    assert Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}").get("/metrics").status_code == 200
    assert staff_client.get("/metrics").status_code == 200
    user = get_user_model().objects.create_user("tenant-user", password="pw-x-12345")
    plain = Client()
    plain.force_login(user)
    assert plain.get("/metrics").status_code == 403

    settings.WEBHOOKS_METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404
    assert Client(HTTP_AUTHORIZATION="Bearer ").get("/metrics").status_code == 404
    assert staff_client.get("/metrics").status_code == 200


def test_counters_and_histograms_add_up():
    before = scrape()

    metrics.event_published(event_type="invoice.paid")
    metrics.event_published(event_type="invoice.paid")
    metrics.event_published(event_type="user.created")
    metrics.attempt_recorded(status=200, error="", duration_ms=40)
    metrics.attempt_recorded(status=204, error="", duration_ms=60)
    metrics.attempt_recorded(status=503, error="", duration_ms=700)
    metrics.attempt_recorded(status=302, error="", duration_ms=5)
    metrics.attempt_recorded(status=0, error="timeout", duration_ms=15_000)
    after = scrape()

    published = "webhooks_events_published_total"
    assert delta(before, after, published, event_type="invoice.paid") == 2
    assert delta(before, after, published, event_type="user.created") == 1
    attempts = "webhooks_attempts_total"
    assert delta(before, after, attempts, outcome="success", status_class="2xx") == 2
    assert delta(before, after, attempts, outcome="http_error", status_class="5xx") == 1
    assert delta(before, after, attempts, outcome="http_error", status_class="3xx") == 1
    assert delta(before, after, attempts, outcome="no_response", status_class="none") == 1
    duration = "webhooks_attempt_duration_seconds"
    assert delta(before, after, f"{duration}_count") == 5
    assert delta(before, after, f"{duration}_sum") == pytest.approx(15.805)
    assert delta(before, after, f"{duration}_bucket", le="0.05") == 2
    assert delta(before, after, f"{duration}_bucket", le="1.0") == 4
    assert delta(before, after, f"{duration}_bucket", le="+Inf") == 5


def test_latency_is_observed_for_successes_only():
    now = timezone.now()
    before = scrape()

    metrics.delivery_finished(
        outcome="succeeded", event_created_at=now - timedelta(seconds=2), finished_at=now
    )
    metrics.delivery_finished(
        outcome="succeeded", event_created_at=now - timedelta(minutes=10), finished_at=now
    )
    metrics.delivery_finished(
        outcome="failed", event_created_at=now - timedelta(hours=27), finished_at=now
    )
    metrics.delivery_finished(outcome="cancelled", event_created_at=None, finished_at=now)
    after = scrape()

    finished = "webhooks_deliveries_finished_total"
    assert delta(before, after, finished, outcome="succeeded") == 2
    assert delta(before, after, finished, outcome="failed") == 1
    assert delta(before, after, finished, outcome="cancelled") == 1
    latency = "webhooks_delivery_latency_seconds"
    assert delta(before, after, f"{latency}_count") == 2
    assert delta(before, after, f"{latency}_sum") == pytest.approx(602)
    assert delta(before, after, f"{latency}_bucket", le="2.5") == 1
    assert delta(before, after, f"{latency}_bucket", le="900.0") == 2


def test_gauges_read_the_backlog_and_endpoint_health(tenant, invoice_paid):
    now = timezone.now()
    endpoints = [endpoint_create(tenant=tenant, url=f"http://127.0.0.1:9/{n}")[0] for n in range(4)]
    for n, wait in enumerate([120, 30]):
        event = publish_event(tenant, "invoice.paid", {"n": n})
        Delivery.objects.create(
            event=event,
            endpoint=endpoints[0],
            tenant=tenant,
            event_type=invoice_paid,
            next_attempt_at=now - timedelta(seconds=wait),
        )
    later = publish_event(tenant, "invoice.paid", {"n": "later"})
    Delivery.objects.create(
        event=later,
        endpoint=endpoints[0],
        tenant=tenant,
        event_type=invoice_paid,
        next_attempt_at=now + timedelta(minutes=5),
    )
    endpoint_disable(endpoint=endpoints[1], reason="test")
    endpoint_disable(endpoint=endpoints[2], reason="test")
    Endpoint.objects.filter(pk__in=[endpoints[2].pk, endpoints[3].pk]).update(circuit_state="open")

    samples = scrape()

    assert value(samples, "webhooks_deliveries_due") == 2
    assert 120 <= value(samples, "webhooks_deliveries_due_oldest_age_seconds") < 130
    assert value(samples, "webhooks_endpoints_disabled") == 2
    assert value(samples, "webhooks_endpoints_circuit_open") == 2


def test_gauges_are_zero_on_an_empty_platform():
    samples = scrape()

    assert value(samples, "webhooks_deliveries_due") == 0
    assert value(samples, "webhooks_deliveries_due_oldest_age_seconds") == 0
    assert value(samples, "webhooks_endpoints_disabled") == 0


def test_metrics_after_real_deliveries(receiver, tenant, invoice_paid, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = []
    ok = endpoint_create(tenant=tenant, url=receiver.url("/ok"))[0]
    broken = endpoint_create(tenant=tenant, url=receiver.url("/status/500"))[0]
    # Its own type: the publish counter is the process's, and a thread another test left (a
    # live server finishing a request) may still publish invoice.paid meanwhile.
    event_type_create(name="metrics.counted")
    before = scrape()

    for n in range(3):
        event = publish_event(tenant, "metrics.counted", {"n": n})
        event_fan_out(event_id=event.pk)
    deliver_due()
    after = scrape()

    assert len(receiver.received("/ok")) == 3
    assert Delivery.objects.filter(endpoint=ok, status="succeeded").count() == 3
    assert Delivery.objects.filter(endpoint=broken, status="failed").count() == 3
    attempts = "webhooks_attempts_total"
    assert delta(before, after, attempts, outcome="success", status_class="2xx") == 3
    assert delta(before, after, attempts, outcome="http_error", status_class="5xx") == 3
    assert delta(before, after, "webhooks_attempt_duration_seconds_count") == 6
    finished = "webhooks_deliveries_finished_total"
    assert delta(before, after, finished, outcome="succeeded") == 3
    assert delta(before, after, finished, outcome="failed") == 3
    assert delta(before, after, "webhooks_delivery_latency_seconds_count") == 3
    published = "webhooks_events_published_total"
    assert delta(before, after, published, event_type="metrics.counted") == 3
