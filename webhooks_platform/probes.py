"""What load balancers, compose and Prometheus call: readiness and metrics (with the gauges read
from the apps' tables at each scrape, ``DatabaseCollector``).

``/healthz`` (in urls.py) only says the process answers; ``/readyz`` also checks the database and
the broker, each with a short timeout, so a probe never hangs on a dead dependency.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator

from django.db import connections
from django.db.models import Count, Min, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from platform_core import metrics
from platform_core.conf import webhooks_settings

logger = logging.getLogger(__name__)


def database_check(alias: str) -> str | None:
    """None when ``alias`` answers ``SELECT 1``; otherwise the error, for the probe's body."""
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        # A half-open connection would fail the next request too; the next check reconnects.
        connection.close_if_unusable_or_obsolete()
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def broker_check(timeout: float) -> str | None:
    """None when the broker accepts a connection within ``timeout`` seconds."""
    from platform_core.celery import app

    try:
        with app.connection_for_write(connect_timeout=timeout) as conn:
            # One try, no back-off sleep: the probe answers within about ``timeout``.
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=timeout
            )
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    timeout = webhooks_settings().ready_timeout
    checks: dict[str, str] = {}
    failed: list[str] = []
    for alias in connections:
        name = "database" if alias == "default" else f"database:{alias}"
        error = database_check(alias)
        checks[name] = error or "ok"
        if error:
            failed.append(name)
    error = broker_check(timeout)
    checks["broker"] = error or "ok"
    if error:
        failed.append("broker")
    if failed:
        # The errors name hosts and users: they go to the log, and the unauthenticated probe
        # only says which dependency is down.
        logger.warning(
            "not ready",
            extra={"failed": ",".join(failed), "errors": "; ".join(checks[f] for f in failed)},
        )
        for name in failed:
            checks[name] = "unavailable"
        return JsonResponse(
            {"status": "unavailable", "failed": failed, "checks": checks}, status=503
        )
    return JsonResponse({"status": "ok", "checks": checks})


def _bearer(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition, for a holder of ``WEBHOOKS_METRICS_TOKEN`` or a staff user.

    With no token configured and no staff session the page answers 404, so an unconfigured
    deployment does not even reveal that it exports metrics.
    """
    token = webhooks_settings().metrics_token
    presented = _bearer(request)
    allowed = bool(token) and hmac.compare_digest(presented.encode(), token.encode())
    user = getattr(request, "user", None)
    if not allowed and not (user is not None and user.is_active and user.is_staff):
        if not token:
            raise Http404
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    body, content_type = metrics.render(DatabaseCollector())
    return HttpResponse(body, content_type=content_type)


class DatabaseCollector(Collector):
    """Backlog and endpoint health, read from the database at each scrape.

    Three small queries, each served by an index (``delivery_due_idx``) or by the endpoints table,
    which is small next to the delivery tables.
    """

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from deliveries.models import Delivery
        from endpoints.models import Endpoint

        now = timezone.now()
        due = Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=now
        ).aggregate(count=Count("id"), oldest=Min("next_attempt_at"))
        endpoints = Endpoint.objects.filter(deleted_at__isnull=True).aggregate(
            disabled=Count("id", filter=Q(enabled=False)),
            circuit_open=Count("id", filter=Q(circuit_state="open")),
        )
        oldest = due["oldest"]
        yield GaugeMetricFamily(
            f"{metrics.PREFIX}_deliveries_due",
            "Deliveries due for an attempt now and not yet sent (the backlog).",
            value=due["count"] or 0,
        )
        yield GaugeMetricFamily(
            f"{metrics.PREFIX}_deliveries_due_oldest_age_seconds",
            "How long the oldest due delivery has been waiting past its due time (0: none).",
            value=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            f"{metrics.PREFIX}_endpoints_disabled",
            "Endpoints disabled (by a user, by 410 Gone or after failing too long).",
            value=endpoints["disabled"] or 0,
        )
        yield GaugeMetricFamily(
            f"{metrics.PREFIX}_endpoints_circuit_open",
            "Endpoints whose circuit breaker is open.",
            value=endpoints["circuit_open"] or 0,
        )
