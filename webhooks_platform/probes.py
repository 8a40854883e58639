"""What load balancers, compose and Prometheus call: readiness and metrics.

``/healthz`` (in urls.py) only says the process answers; ``/readyz`` also checks the database and
the broker, each with a short timeout, so a probe never hangs on a dead dependency.
"""

from __future__ import annotations

import hmac
import logging

from django.db import connections
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from webhooks_platform.conf import webhooks_settings

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
    from webhooks_platform.celery import app

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
    from webhooks_platform import metrics

    token = webhooks_settings().metrics_token
    presented = _bearer(request)
    allowed = bool(token) and hmac.compare_digest(presented.encode(), token.encode())
    user = getattr(request, "user", None)
    if not allowed and not (user is not None and user.is_active and user.is_staff):
        if not token:
            raise Http404
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)
