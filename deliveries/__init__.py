"""Events, deliveries and attempts.

Product code publishes with ``from deliveries import publish_event``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from endpoints.models import EventType, Tenant

    from .models import Event


class PublishError(ValueError):
    """An event that cannot be published; the message names the problem."""


class PayloadTooLarge(PublishError):
    """The encoded event body is over ``WEBHOOKS_MAX_PAYLOAD_BYTES``."""


def publish_event(
    tenant: Tenant | str,
    event_type: EventType | str,
    payload: Any,
    *,
    idempotency_key: str | None = None,
) -> Event:
    """Publish an event to every endpoint of ``tenant`` subscribed to ``event_type``.

    Runs in the caller's transaction: a rollback publishes nothing. See
    ``deliveries.services.publishing.event_publish``.
    """
    from .services.publishing import event_publish

    return event_publish(
        tenant=tenant, event_type=event_type, payload=payload, idempotency_key=idempotency_key
    )


__all__ = ["PayloadTooLarge", "PublishError", "publish_event"]
