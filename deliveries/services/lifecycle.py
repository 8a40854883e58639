"""Replay, cancel and resume deliveries."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from deliveries.models import Attempt, Delivery, Event
from deliveries.ordering import ordered_lock
from endpoints.models import Endpoint
from platform_core import metrics
from platform_core.conf import webhooks_settings

from .dispatch import deliveries_dispatch, ordered_release_and_dispatch

CANCELLED_BY_DISABLE = "endpoint disabled"
MAX_MANUAL_PER_HOUR = 10


def deliveries_cancel_for_endpoint(*, endpoint_id: str, reason: str) -> int:
    """Cancel what is waiting for ``endpoint_id``; a delivery mid-attempt finishes its attempt."""
    return _cancel_pending(Delivery.objects.filter(endpoint_id=endpoint_id), reason)


def deliveries_cancel_for_event(*, event_id: str, reason: str) -> int:
    """Cancel what is waiting of ``event_id`` (its payload is gone); an ordered endpoint it
    held up goes on with its next."""
    deliveries = Delivery.objects.filter(event_id=event_id)
    ordered = sorted(
        deliveries.filter(endpoint__ordered=True).values_list("endpoint_id", flat=True)
    )
    for endpoint_id in ordered:  # before the rows, as a release takes them
        ordered_lock(endpoint_id)
    count = _cancel_pending(deliveries, reason)
    ordered_release_and_dispatch(ordered, now=timezone.now())
    return count


def _cancel_pending(deliveries, reason: str) -> int:  # type: ignore[no-untyped-def]
    now = timezone.now()
    count = deliveries.filter(status__in=(Delivery.Status.PENDING, Delivery.Status.HELD)).update(
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
    # A scheduled event's delivery is revived whenever it was created, for its own time.
    scheduled = Q(event__deliver_at__gt=now)
    ids = list(
        Delivery.objects.filter(
            Q(created_at__gte=now - window) | scheduled,
            endpoint_id=endpoint_id,
            status=Delivery.Status.CANCELLED,
            cancel_reason=CANCELLED_BY_DISABLE,
        ).values_list("id", flat=True)
    )
    if not ids:
        return ids
    ordered = Endpoint.objects.filter(pk=endpoint_id, ordered=True).exists()
    revived = Delivery.objects.filter(id__in=ids)
    revived.update(
        # In order again: held, and the earliest released.
        status=Delivery.Status.HELD if ordered else Delivery.Status.PENDING,
        cancel_reason="",
        finished_at=None,
        next_attempt_at=now,
    )
    revived.filter(scheduled).update(
        next_attempt_at=Subquery(
            Event.objects.filter(pk=OuterRef("event_id")).values("deliver_at")[:1]
        )
    )
    if ordered:
        ordered_release_and_dispatch([endpoint_id], now=now)
    else:
        deliveries_dispatch(delivery_ids=ids)
    return ids


SKIPPED = "skipped by hand so that later deliveries of the ordered endpoint can go"


@transaction.atomic
def delivery_skip(*, delivery: Delivery) -> Delivery:
    """Give up on the delivery an ordered endpoint waits behind: cancelled (its attempts stay
    in the log, and it can still be replayed by hand), and the endpoint's next one released."""
    ordered_lock(delivery.endpoint_id)  # before the row, as a release takes them
    locked = Delivery.objects.select_for_update().filter(pk=delivery.pk).first()
    if locked is None or locked.status not in (Delivery.Status.PENDING, Delivery.Status.HELD):
        state = "mid-attempt" if locked and locked.status == Delivery.Status.SENDING else "done"
        raise ValidationError(
            {"delivery": f"Only a waiting delivery can be skipped; this one is {state}."}
        )
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.CANCELLED,
        cancel_reason=SKIPPED,
        finished_at=now,
        next_attempt_at=None,
        dispatched_until=None,
        manual_requested=False,
    )
    metrics.deliveries_cancelled(count=1)
    ordered_release_and_dispatch([delivery.endpoint_id], now=now)
    delivery.refresh_from_db()
    return delivery


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
