"""Replay, cancel and resume deliveries."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from deliveries.models import Attempt, Delivery
from webhooks_platform import metrics
from webhooks_platform.conf import webhooks_settings

from .dispatch import deliveries_dispatch

CANCELLED_BY_DISABLE = "endpoint disabled"
MAX_MANUAL_PER_HOUR = 10


def deliveries_cancel_for_endpoint(*, endpoint_id: str, reason: str) -> int:
    """Cancel what is waiting for ``endpoint_id``; a delivery mid-attempt finishes its attempt."""
    return _cancel_pending(Delivery.objects.filter(endpoint_id=endpoint_id), reason)


def deliveries_cancel_for_event(*, event_id: str, reason: str) -> int:
    """Cancel what is waiting of ``event_id`` (its payload is gone)."""
    return _cancel_pending(Delivery.objects.filter(event_id=event_id), reason)


def _cancel_pending(deliveries, reason: str) -> int:  # type: ignore[no-untyped-def]
    now = timezone.now()
    count = deliveries.filter(status=Delivery.Status.PENDING).update(
        status=Delivery.Status.CANCELLED,
        cancel_reason=reason,
        finished_at=now,
        next_attempt_at=None,
        dispatched_until=None,
        manual_requested=False,
    )
    metrics.deliveries_cancelled(count=count)
    return count


def deliveries_resume_for_endpoint(*, endpoint_id: str) -> list[int]:
    """Revive deliveries cancelled by a disable whose event is still inside the retry window."""
    now = timezone.now()
    window = timedelta(seconds=sum(webhooks_settings().retry_schedule))
    ids = list(
        Delivery.objects.filter(
            endpoint_id=endpoint_id,
            status=Delivery.Status.CANCELLED,
            cancel_reason=CANCELLED_BY_DISABLE,
            created_at__gte=now - window,
        ).values_list("id", flat=True)
    )
    if ids:
        Delivery.objects.filter(id__in=ids).update(
            status=Delivery.Status.PENDING, cancel_reason="", finished_at=None, next_attempt_at=now
        )
        deliveries_dispatch(delivery_ids=ids)
    return ids


@transaction.atomic
def delivery_replay(*, delivery: Delivery) -> Delivery:
    """Send ``delivery`` again now, as a manual attempt, whatever its state."""
    if not delivery.endpoint.enabled:
        raise ValidationError({"delivery": "The endpoint is disabled; enable it before replaying."})
    if delivery.event.payload_purged:
        raise ValidationError(
            {"delivery": "The event's payload was removed by retention; it cannot be sent again."}
        )
    now = timezone.now()
    recent = Attempt.objects.filter(
        delivery_id=delivery.pk,
        trigger=Attempt.Trigger.MANUAL,
        started_at__gte=now - timedelta(hours=1),
    ).count()
    if recent >= MAX_MANUAL_PER_HOUR:
        # Each replay is a request to the receiver: unlimited, it is a way to flood it.
        raise ValidationError(
            {
                "delivery": f"This delivery was sent by hand {recent} times in the last hour, "
                f"the most allowed ({MAX_MANUAL_PER_HOUR}); try again later."
            }
        )
    updated = (
        Delivery.objects.filter(pk=delivery.pk)
        .exclude(status=Delivery.Status.SENDING)
        .update(
            status=Delivery.Status.PENDING,
            next_attempt_at=now,
            manual_requested=True,
            dispatched_until=None,
            finished_at=None,
            cancel_reason="",
        )
    )
    if not updated:
        raise ValidationError(
            {"delivery": "The delivery is being sent right now; try again shortly."}
        )
    deliveries_dispatch(delivery_ids=[delivery.pk])
    delivery.refresh_from_db()
    return delivery
