"""Operational webhooks: tell the platform's operators when an endpoint dies or a delivery gives up.

The operators' URLs (``WEBHOOKS_OPERATIONAL_WEBHOOK_URLS``) become endpoints of an internal tenant,
``_operations``, and each notification is an ordinary event published to it. So operational
webhooks are signed the same way (Standard Webhooks, with ``WEBHOOKS_OPERATIONAL_WEBHOOK_SECRET``
when set), retried, logged and replayable exactly like a tenant's, with no second pipeline.

- The tenant, its endpoints and the event types are created on demand, so there is nothing to
  set up beyond the settings; the endpoints follow the setting (added, removed, secret rotated)
  each time a notification is sent.
- Nothing is ever emitted about the operations tenant's own endpoints or deliveries: an operator
  URL that dies must not notify itself in a loop.
- A notification is published in the caller's transaction (in a savepoint) and fanned out after
  it commits; if anything about it fails, the failure is logged and the caller goes on.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from deliveries.models import Delivery, Event
from endpoints.models import OPERATIONS_TENANT_SLUG, Endpoint, EventType, Tenant
from endpoints.services import (
    endpoint_create,
    endpoint_mark_deleted,
    endpoint_secret_current,
    endpoint_secret_rotate,
)
from platform_core.conf import webhooks_settings

from .lifecycle import deliveries_cancel_for_endpoint
from .publishing import event_publish

logger = logging.getLogger(__name__)

__all__ = ["OPERATIONS_TENANT_SLUG"]

EVENT_TYPES = {
    "endpoint.disabled": "Operational: an endpoint was disabled (by a user, 410 Gone, or failing).",
    "endpoint.enabled": "Operational: a disabled endpoint was enabled again.",
    "endpoint.circuit_opened": "Operational: an endpoint's circuit breaker opened.",
    "endpoint.circuit_closed": "Operational: an endpoint's circuit breaker closed again.",
    "delivery.exhausted": "Operational: a delivery failed its last automatic retry.",
}
ENDPOINT_EVENTS = frozenset(name for name in EVENT_TYPES if name.startswith("endpoint."))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def is_operations_tenant(tenant_id: int | None) -> bool:
    return Tenant.objects.filter(pk=tenant_id, slug=OPERATIONS_TENANT_SLUG).exists()


def operations_tenant_get_or_create() -> Tenant:
    """The internal tenant; created directly, as ``tenant_create`` refuses a leading underscore."""
    tenant = Tenant.objects.filter(slug=OPERATIONS_TENANT_SLUG).first()
    if tenant is not None:
        return tenant
    try:
        with transaction.atomic():
            return Tenant.objects.create(
                slug=OPERATIONS_TENANT_SLUG, name="Platform operations (internal)"
            )
    except IntegrityError:
        # Another worker created it first.
        return Tenant.objects.get(slug=OPERATIONS_TENANT_SLUG)


def operations_endpoints_sync(*, tenant: Tenant) -> list[Endpoint]:
    """Make the tenant's live endpoints match the setting; returns them.

    A URL new in the setting gets an endpoint (subscribed to every operational type), one gone from
    it is deleted, and a configured secret replaces a different current one (the old one keeps
    signing for the usual rotation grace, so retries in flight still verify).
    """
    ws = webhooks_settings()
    wanted = list(dict.fromkeys(ws.operational_webhook_urls))
    secret = ws.operational_webhook_secret or None
    live = list(Endpoint.objects.filter(tenant=tenant, deleted_at__isnull=True))
    by_url: dict[str, Endpoint] = {}
    for endpoint in live:
        if endpoint.url in wanted and endpoint.url not in by_url:
            by_url[endpoint.url] = endpoint
        else:
            # The delete of endpoint_lifecycle, which sends operational webhooks through here.
            endpoint_mark_deleted(endpoint=endpoint)
            deliveries_cancel_for_endpoint(endpoint_id=endpoint.pk, reason="endpoint deleted")
    for url in wanted:
        if url in by_url:
            continue
        try:
            with transaction.atomic():
                by_url[url], _ = endpoint_create(
                    tenant=tenant,
                    url=url,
                    description="operational webhooks (from WEBHOOKS_OPERATIONAL_WEBHOOK_URLS)",
                    secret=secret,
                )
        except ValidationError as exc:
            logger.error(
                "operational webhook URL refused: %s",
                "; ".join(exc.messages),
                extra={"url": url},
            )
    endpoints = [by_url[url] for url in wanted if url in by_url]
    for endpoint in endpoints:
        if secret and endpoint_secret_current(endpoint=endpoint) != secret:
            endpoint_secret_rotate(endpoint=endpoint, secret=secret)
        if not endpoint.enabled:
            logger.warning(
                "operational webhook endpoint is disabled; enable it to receive notifications",
                extra={"endpoint_id": endpoint.pk, "reason": endpoint.disabled_reason},
            )
    return endpoints


def _event_type(name: str) -> EventType:
    try:
        with transaction.atomic():
            event_type, _ = EventType.objects.get_or_create(
                name=name, defaults={"description": EVENT_TYPES[name], "internal": True}
            )
    except IntegrityError:
        event_type = EventType.objects.get(name=name)
    return event_type


def _emit(*, event_type: str, payload: dict[str, Any], idempotency_key: str | None = None) -> None:
    """Publish one operational event; never raises (the caller's own work comes first)."""
    if not webhooks_settings().operational_webhook_urls:
        return
    try:
        with transaction.atomic():
            tenant = operations_tenant_get_or_create()
            if not operations_endpoints_sync(tenant=tenant):
                return
            event: Event = event_publish(
                tenant=tenant,
                event_type=_event_type(event_type),
                payload=payload,
                idempotency_key=idempotency_key,
            )
    except Exception:
        logger.exception("could not publish an operational webhook", extra={"type": event_type})
        return
    logger.info(
        "operational webhook published",
        extra={"event_id": event.pk, "type": event_type, "tenant_id": tenant.pk},
    )


def _endpoint_payload(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "endpoint_id": endpoint.pk,
        "tenant_id": endpoint.tenant_id,
        "tenant": endpoint.tenant.slug,
        "url": endpoint.url,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": _iso(endpoint.disabled_at),
        "failing_since": _iso(endpoint.failing_since),
        "circuit_state": endpoint.circuit_state,
        "circuit_opened_at": _iso(endpoint.circuit_opened_at),
    }


def endpoint_state_changed(*, endpoint: Endpoint, event: str, reason: str = "") -> None:
    """Notify the operators that ``endpoint`` was disabled, enabled, or its circuit moved.

    ``event`` is one of ``endpoint.disabled``, ``endpoint.enabled``, ``endpoint.circuit_opened``,
    ``endpoint.circuit_closed``. Call it after the change is written, in the same transaction.
    """
    if event not in ENDPOINT_EVENTS:
        raise ValueError(f"not an endpoint event: {event!r}")
    if not webhooks_settings().operational_webhook_urls:
        return
    fresh = Endpoint.objects.select_related("tenant").filter(pk=endpoint.pk).first()
    if fresh is None or fresh.tenant.slug == OPERATIONS_TENANT_SLUG:
        return
    payload = _endpoint_payload(fresh)
    payload["reason"] = reason or (fresh.disabled_reason if event == "endpoint.disabled" else "")
    _emit(event_type=event, payload=payload)


def delivery_exhausted(*, delivery: Delivery) -> None:
    """Notify the operators that ``delivery`` failed its last automatic retry.

    Call it once the delivery is written as failed, in the same transaction. Calling it twice for
    the same failure sends one notification (the idempotency key is the delivery and its try count).
    """
    if not webhooks_settings().operational_webhook_urls:
        return
    fresh = (
        Delivery.objects.select_related("tenant", "endpoint", "event_type")
        .filter(pk=delivery.pk)
        .first()
    )
    if fresh is None or fresh.tenant.slug == OPERATIONS_TENANT_SLUG:
        return
    payload = {
        "delivery_id": fresh.pk,
        "event_id": fresh.event_id,
        "event_type": fresh.event_type.name,
        "tenant_id": fresh.tenant_id,
        "tenant": fresh.tenant.slug,
        "endpoint_id": fresh.endpoint_id,
        "url": fresh.endpoint.url,
        "status": fresh.status,
        "attempts": fresh.attempt_count,
        "last_status_code": fresh.last_status_code,
        "last_error": fresh.last_error,
        "last_attempt_at": _iso(fresh.last_attempt_at),
        "finished_at": _iso(fresh.finished_at),
    }
    _emit(
        event_type="delivery.exhausted",
        payload=payload,
        idempotency_key=f"delivery.exhausted:{fresh.pk}:{fresh.attempt_count}",
    )
