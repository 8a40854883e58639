"""Events, deliveries and attempts.

Product code publishes with ``from deliveries import publish_event``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import PayloadTooLarge, PublishError, TenantGone

if TYPE_CHECKING:
    from datetime import datetime

    from endpoints.models import EventType, Tenant

    from .models import Event
    from .services.publishing_batch import PublishResult


def publish_event(
    tenant: Tenant | str,
    event_type: EventType | str,
    payload: Any,
    *,
    idempotency_key: str | None = None,
    deliver_at: datetime | str | None = None,
) -> Event:
    """Publish an event to every endpoint of ``tenant`` subscribed to ``event_type``.

    Runs in the caller's transaction: a rollback publishes nothing. ``deliver_at`` (an aware
    datetime, up to 30 days ahead) holds its deliveries until then. See
    ``deliveries.services.publishing.event_publish``.
    """
    from .services.publishing import event_publish

    return event_publish(
        tenant=tenant,
        event_type=event_type,
        payload=payload,
        idempotency_key=idempotency_key,
        deliver_at=deliver_at,
    )


def publish_events(tenant: Tenant | str, items: Sequence[Mapping[str, Any]]) -> list[PublishResult]:
    """Publish up to 1,000 events of ``tenant`` with one INSERT.

    Each item is ``{"event_type": ..., "payload": ..., "idempotency_key": ...}`` (the key is
    optional, as are ``channels``, ``tags`` and ``deliver_at``).
    Returns one ``PublishResult`` per item, in order: ``created``, ``existing`` (a
    repeated idempotency key) or ``error`` with the message a single publish would raise; a bad
    item never stops the others. See ``deliveries.services.publishing_batch.events_publish``.
    """
    from .services.publishing_batch import events_publish

    return events_publish(tenant=tenant, items=items)


__all__ = ["PayloadTooLarge", "PublishError", "TenantGone", "publish_event", "publish_events"]
