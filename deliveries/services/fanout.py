from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from deliveries.models import Delivery, Event
from endpoints.models import Endpoint

from .dispatch import deliveries_dispatch

logger = logging.getLogger(__name__)

BULK_CHUNK = 1000


def event_subscribers(*, event: Event) -> list[str]:
    """Ids of the enabled endpoints that receive ``event`` (no subscribed types means all)."""
    endpoints = Endpoint.objects.filter(
        tenant_id=event.tenant_id, enabled=True, deleted_at__isnull=True
    )
    if event.only_endpoint_id:
        endpoints = endpoints.filter(pk=event.only_endpoint_id)
    else:
        endpoints = endpoints.filter(
            Q(event_types=event.event_type_id) | Q(event_types__isnull=True)
        )
    return list(endpoints.values_list("id", flat=True).distinct())


def event_fan_out(*, event_id: str, send_here: bool = False) -> int:
    """Create one delivery per subscribed endpoint and dispatch them; returns how many exist.

    Idempotent: the unique (event, endpoint) constraint makes a second run create nothing, and
    dispatch skips deliveries already queued. ``send_here`` (the fan-out task) sends a fan-out
    that fits in one batch from this worker rather than queueing it (``deliveries_dispatch``).
    """
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        logger.warning("fan-out of unknown event", extra={"event_id": event_id})
        return 0
    now = timezone.now()
    with transaction.atomic():
        endpoint_ids = event_subscribers(event=event)
        rows = [
            Delivery(
                event_id=event.pk,
                endpoint_id=endpoint_id,
                tenant_id=event.tenant_id,
                event_type_id=event.event_type_id,
                status=Delivery.Status.PENDING,
                next_attempt_at=now,
            )
            for endpoint_id in endpoint_ids
        ]
        Delivery.objects.bulk_create(rows, batch_size=BULK_CHUNK, ignore_conflicts=True)
        Event.objects.filter(pk=event.pk).update(fanned_out_at=now, fanout_dispatched_until=None)
        delivery_ids = list(
            Delivery.objects.filter(event_id=event.pk, status=Delivery.Status.PENDING).values_list(
                "id", flat=True
            )
        )
        deliveries_dispatch(delivery_ids=delivery_ids, send_here=send_here)
    logger.info(
        "event fanned out",
        extra={"event_id": event.pk, "tenant_id": event.tenant_id, "deliveries": len(rows)},
    )
    return len(rows)
