"""What a person does by hand to one event: resend it to an endpoint, or cancel it while it is
still scheduled. The dashboard's event page calls these (audited there)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from deliveries.models import Delivery, Event, FeedItem
from endpoints.models import Endpoint

from ..backlog import SCHEDULE_CANCELLED
from .dispatch import deliveries_dispatch
from .lifecycle import deliveries_cancel_for_event, delivery_replay


@transaction.atomic
def event_resend(*, event: Event, endpoint: Endpoint) -> Delivery:
    """Send ``event`` to ``endpoint`` now, as a manual attempt: its delivery there is replayed,
    or, when the event never went there (the endpoint was added or subscribed later), a new
    delivery is made for it."""
    if endpoint.tenant_id != event.tenant_id or endpoint.deleted_at is not None:
        raise ValidationError({"endpoint": "No such endpoint."})
    if endpoint.kind == Endpoint.Kind.POLL:
        raise ValidationError({"endpoint": "A poll endpoint is read from, never sent to."})
    if event.deliver_at is not None and event.deliver_at > timezone.now():
        raise ValidationError({"event": "The event is scheduled; it goes out at its time."})
    existing = Delivery.objects.select_related("event", "endpoint").filter(
        event=event, endpoint=endpoint
    )
    delivery = existing.first()
    if delivery is not None:
        return delivery_replay(delivery=delivery)
    if not endpoint.enabled:
        raise ValidationError({"endpoint": "The endpoint is disabled; enable it to send to it."})
    if event.payload_purged:
        raise ValidationError(
            {"event": "The event's payload was removed by retention; it cannot be sent again."}
        )
    delivery, created = Delivery.objects.get_or_create(
        event=event,
        endpoint=endpoint,
        defaults={
            "tenant_id": event.tenant_id,
            "event_type_id": event.event_type_id,
            "status": Delivery.Status.PENDING,
            "next_attempt_at": timezone.now(),
            "manual_requested": True,
        },
    )
    if not created:  # made by a fan-out in between: replay that one
        return delivery_replay(delivery=delivery)
    deliveries_dispatch(delivery_ids=[delivery.pk])
    return delivery


@transaction.atomic
def event_scheduled_cancel(*, event: Event) -> int:
    """Cancel a scheduled event before its time: its waiting deliveries are cancelled and it
    never joins a poll endpoint's feed. Returns how many deliveries were cancelled."""
    locked = Event.objects.select_for_update().get(pk=event.pk)
    if locked.deliver_at is None or locked.deliver_at <= timezone.now():
        raise ValidationError({"event": "Only an event still scheduled ahead can be cancelled."})
    if locked.fanned_out_at is None:
        # Its deliveries are being made right now: cancelling first would miss them.
        raise ValidationError({"event": "The event is being fanned out; try again in a moment."})
    count = deliveries_cancel_for_event(event_id=locked.pk, reason=SCHEDULE_CANCELLED)
    FeedItem.objects.filter(event_id=locked.pk, position__isnull=True).delete()
    return count
