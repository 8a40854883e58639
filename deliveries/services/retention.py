"""Retention: keep the delivery tables from growing without bound.

Two passes, both in primary-key chunks of ``WEBHOOKS_RETENTION_BATCH_SIZE`` rows, each chunk its own
short transaction, so no lock is held for long and an interrupted purge simply continues where it
stopped on the next run (nothing is remembered between runs: the conditions select what is left).

1. Rows (``WEBHOOKS_RETENTION_DAYS``, default 30): finished deliveries (succeeded, failed,
   cancelled) created before the cutoff are deleted with their attempts, then the old events left
   with no delivery. A pending or sending delivery is never deleted, nor its event. On
   PostgreSQL the attempts are partitioned by week (``partitions``): every week wholly older
   than the cutoff is detached and dropped first, whatever its attempts' deliveries (an attempt
   is history; a delivery's state lives on its row), and only what is left of the attempts goes
   with their deliveries, row by row.
2. Payloads (``WEBHOOKS_PAYLOAD_RETENTION_DAYS``, default the same as the retention): attempts'
   response bodies are blanked, and so are the bodies of events whose deliveries are all finished.
   An event body still needed by a pending or sending delivery is never touched. Attempt metadata
   (status, duration, headers, error) stays. A blanked event body is the empty string.

Ids are time-ordered (ULIDs for events, sequences for the rest), so each pass first finds the
first id past the cutoff and then walks the ids below it: a bounded range scan on the primary key,
not a scan of the whole table, whatever its size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, Max, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from deliveries.models import Attempt, Delivery, Event, FeedConsumer, FeedFetch, FeedItem
from endpoints.models import Endpoint, IdempotentResponse, PortalLink
from platform_core import metrics
from platform_core.conf import webhooks_settings
from platform_core.db import skip_locked

from .partitions import (
    partitions_drop_older_than,
    partitions_droppable,
    partitions_ensure,
    partitions_left_detached,
)

logger = logging.getLogger(__name__)

FINISHED = (Delivery.Status.SUCCEEDED, Delivery.Status.FAILED, Delivery.Status.CANCELLED)
UNFINISHED = (Delivery.Status.HELD, Delivery.Status.PENDING, Delivery.Status.SENDING)


@dataclass
class PurgeReport:
    events_deleted: int = 0
    deliveries_deleted: int = 0
    attempts_deleted: int = 0
    response_bodies_blanked: int = 0
    event_bodies_blanked: int = 0
    idempotent_responses_deleted: int = 0
    portal_links_deleted: int = 0
    feed_items_deleted: int = 0
    feed_fetches_deleted: int = 0
    # PostgreSQL: attempt partitions wholly older than the retention, detached and dropped.
    attempt_partitions_dropped: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _chunks(queryset: QuerySet[Any], batch_size: int) -> Iterator[list[Any]]:
    """Primary keys of ``queryset`` in ascending chunks; re-queried after each chunk."""
    last: Any = None
    while True:
        page = queryset if last is None else queryset.filter(pk__gt=last)
        ids = list(page.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return
        yield ids
        last = ids[-1]
        if len(ids) < batch_size:
            return


def _first_id_at_or_after(queryset: QuerySet[Any], field: str, cutoff: datetime) -> Any:
    """The smallest id whose ``field`` is at or after ``cutoff`` (None: every row is older)."""
    return (
        queryset.filter(**{f"{field}__gte": cutoff})
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


def _below(queryset: QuerySet[Any], boundary: Any) -> QuerySet[Any]:
    return queryset if boundary is None else queryset.filter(pk__lt=boundary)


# --- Candidates (shared by the purge and the dry run) ----------------------------------------


def _old_finished_deliveries(cutoff: datetime) -> QuerySet[Delivery]:
    boundary = _first_id_at_or_after(Delivery.objects.all(), "created_at", cutoff)
    return _below(Delivery.objects.filter(created_at__lt=cutoff, status__in=FINISHED), boundary)


def _orphan_old_events(
    cutoff: datetime, *, ignoring: QuerySet[Delivery] | None = None
) -> QuerySet[Event]:
    """Old events with no delivery left (or none but those in ``ignoring``, for the dry run).

    An event whose fan-out never ran is kept: the sweeper still owes it its deliveries.
    """
    boundary = _first_id_at_or_after(Event.objects.all(), "created_at", cutoff)
    remaining = Delivery.objects.filter(event_id=OuterRef("pk"))
    if ignoring is not None:
        remaining = remaining.exclude(pk__in=ignoring.values("pk"))
    # An event still in a feed stays with it (feed items go by their own pass, first).
    in_feed = FeedItem.objects.filter(event_id=OuterRef("pk"))
    return _below(
        Event.objects.filter(created_at__lt=cutoff, fanned_out_at__isnull=False).filter(
            ~Exists(remaining), ~Exists(in_feed)
        ),
        boundary,
    )


def _old_response_bodies(cutoff: datetime) -> QuerySet[Attempt]:
    boundary = _first_id_at_or_after(Attempt.objects.all(), "started_at", cutoff)
    return _below(Attempt.objects.filter(started_at__lt=cutoff).exclude(response_body=""), boundary)


def _old_event_bodies(cutoff: datetime) -> QuerySet[Event]:
    """Old events with a body that no pending or sending delivery still has to send."""
    boundary = _first_id_at_or_after(Event.objects.all(), "created_at", cutoff)
    unfinished = Delivery.objects.filter(event_id=OuterRef("pk"), status__in=UNFINISHED)
    in_feed = FeedItem.objects.filter(event_id=OuterRef("pk"))
    return _below(
        Event.objects.filter(created_at__lt=cutoff, fanned_out_at__isnull=False)
        .exclude(body="")
        .filter(~Exists(unfinished), ~Exists(in_feed)),  # a feed keeps its events' bodies
        boundary,
    )


# --- The purge --------------------------------------------------------------------------------


def _blank_response_bodies(cutoff: datetime, batch_size: int) -> int:
    blanked = 0
    for ids in _chunks(_old_response_bodies(cutoff), batch_size):
        blanked += Attempt.objects.filter(pk__in=ids).update(response_body="")
    return blanked


def _blank_event_bodies(cutoff: datetime, batch_size: int) -> int:
    blanked = 0
    for ids in _chunks(_old_event_bodies(cutoff), batch_size):
        with transaction.atomic():
            # Re-checked inside the write: a replay since the chunk was chosen keeps its body.
            unfinished = Delivery.objects.filter(event_id=OuterRef("pk"), status__in=UNFINISHED)
            in_feed = FeedItem.objects.filter(event_id=OuterRef("pk"))
            blanked += (
                Event.objects.filter(pk__in=ids)
                .filter(~Exists(unfinished), ~Exists(in_feed))
                .update(body="")
            )
    return blanked


def event_expunge(*, event: Event) -> None:
    """Remove an event's payload now (Svix's expunge); its deliveries still waiting are
    cancelled, since an event without a body is never sent."""
    from .lifecycle import deliveries_cancel_for_event

    with transaction.atomic():
        Event.objects.filter(pk=event.pk).update(body="")
        deliveries_cancel_for_event(event_id=event.pk, reason="payload expunged")
    event.body = ""


EXPUNGED = "EXPUNGED"


def attempt_expunge(*, attempt: Attempt) -> None:
    """Remove what a receiver answered to one attempt (its body and headers)."""
    Attempt.objects.filter(pk=attempt.pk).update(response_body=EXPUNGED, response_headers={})
    attempt.response_body, attempt.response_headers = EXPUNGED, {}


def _delete_deliveries(cutoff: datetime, batch_size: int) -> tuple[int, int]:
    deliveries = attempts = 0
    for ids in _chunks(_old_finished_deliveries(cutoff), batch_size):
        with transaction.atomic():
            # Re-checked and locked: a delivery replayed since the chunk was chosen stays.
            still = list(
                skip_locked(Delivery.objects.filter(pk__in=ids, status__in=FINISHED)).values_list(
                    "pk", flat=True
                )
            )
            attempts += Attempt.objects.filter(delivery_id__in=still).delete()[0]
            deleted = Delivery.objects.filter(pk__in=still).delete()[1]
            deliveries += deleted.get(Delivery._meta.label, 0)
    return deliveries, attempts


def _delete_feed_items(cutoff: datetime) -> int:
    """Remove poll endpoints' feed items older than ``cutoff``. A cursor before them then
    answers 410 (``feed_trimmed_through``); a named consumer that had not read them, and items
    no read had seen yet, are logged with how many, and counted in a metric."""
    deleted = 0
    endpoint_ids = list(
        FeedItem.objects.filter(created_at__lt=cutoff)
        .order_by("endpoint_id")
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
    for endpoint_id in endpoint_ids:
        with transaction.atomic():
            endpoint = Endpoint.objects.select_for_update().get(pk=endpoint_id)
            # Not a scheduled event's item still waiting for its time: it has not been readable.
            doomed = FeedItem.objects.filter(
                endpoint_id=endpoint_id, created_at__lt=cutoff
            ).exclude(position__isnull=True, event__deliver_at__gt=timezone.now())
            last = doomed.aggregate(last=Max("position"))["last"] or 0
            never_read = doomed.filter(position__isnull=True).count()
            unread = {
                name: doomed.filter(position__gt=position).count()
                for name, position in FeedConsumer.objects.filter(
                    endpoint_id=endpoint_id, position__lt=last
                ).values_list("name", "position")
            }
            for name, count in [*unread.items(), ("", never_read)]:
                if count:
                    logger.warning(
                        "retention removed feed events not yet read",
                        extra={"endpoint_id": endpoint_id, "consumer": name, "count": count},
                    )
            metrics.feed_unread_dropped(count=max([never_read, *unread.values()]))
            deleted += doomed.delete()[0]
            # A cursor is refused only before the first position still there: an item placed
            # late (a scheduled one) may sit below what was removed.
            kept = FeedItem.objects.filter(
                endpoint_id=endpoint_id, position__isnull=False, position__lte=last
            ).aggregate(first=Min("position"))["first"]
            trimmed = last if kept is None else kept - 1
            if trimmed > endpoint.feed_trimmed_through:
                Endpoint.objects.filter(pk=endpoint_id).update(feed_trimmed_through=trimmed)
    return deleted


def _delete_events(cutoff: datetime, batch_size: int) -> int:
    deleted = 0
    for ids in _chunks(_orphan_old_events(cutoff), batch_size):
        with transaction.atomic():
            orphans = Event.objects.filter(pk__in=ids).filter(
                ~Exists(Delivery.objects.filter(event_id=OuterRef("pk"))),
                ~Exists(FeedItem.objects.filter(event_id=OuterRef("pk"))),
            )
            deleted += orphans.delete()[1].get(Event._meta.label, 0)
    return deleted


IDEMPOTENCY_TTL = timedelta(hours=12)
# Portal links that ended (expired or revoked) are listed for a month, then deleted; the audit
# log keeps who made and revoked them.
PORTAL_LINK_TTL = timedelta(days=30)


def _ended_portal_links(now: datetime) -> QuerySet[PortalLink]:
    cutoff = now - PORTAL_LINK_TTL
    return PortalLink.objects.filter(Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff))


def retention_purge(
    *, now: datetime | None = None, dry_run: bool = False, batch_size: int | None = None
) -> PurgeReport:
    """Blank old payloads, then delete old finished rows; with ``dry_run``, only count them."""
    ws = webhooks_settings()
    now = now or timezone.now()
    batch_size = batch_size or ws.retention_batch_size
    report = PurgeReport(dry_run=dry_run)
    row_cutoff = now - timedelta(days=ws.retention_days) if ws.retention_days > 0 else None
    payload_cutoff = (
        now - timedelta(days=ws.payload_retention_days) if ws.payload_retention_days > 0 else None
    )
    # Answers kept for Idempotency-Key replays live 12 hours (as Svix keeps them).
    expired = IdempotentResponse.objects.filter(created_at__lt=now - IDEMPOTENCY_TTL)
    if dry_run:
        report.idempotent_responses_deleted = expired.count()
        report.portal_links_deleted = _ended_portal_links(now).count()
        doomed = _old_finished_deliveries(row_cutoff) if row_cutoff is not None else None
        doomed_events = (
            _orphan_old_events(row_cutoff, ignoring=doomed) if row_cutoff is not None else None
        )
        if doomed is not None and doomed_events is not None:
            report.deliveries_deleted = doomed.count()
            report.attempts_deleted = Attempt.objects.filter(
                delivery_id__in=doomed.values("pk")
            ).count()
            report.events_deleted = doomed_events.count()
            report.feed_items_deleted = FeedItem.objects.filter(created_at__lt=row_cutoff).count()
            report.feed_fetches_deleted = FeedFetch.objects.filter(at__lt=row_cutoff).count()
            report.attempt_partitions_dropped = len(partitions_droppable(row_cutoff))
        if payload_cutoff is not None:
            # What would be blanked among the rows the row pass leaves.
            bodies = _old_response_bodies(payload_cutoff)
            events = _old_event_bodies(payload_cutoff)
            if doomed is not None and doomed_events is not None:
                bodies = bodies.exclude(delivery_id__in=doomed.values("pk"))
                events = events.exclude(pk__in=doomed_events.values("pk"))
            report.response_bodies_blanked = bodies.count()
            report.event_bodies_blanked = events.count()
        return report

    # Rows first, so the payload pass does not blank what is about to be deleted.
    if row_cutoff is not None:
        # Whole attempt partitions first (PostgreSQL): what is left of the attempts of the
        # finished deliveries below is then deleted with them, row by row.
        partitions_ensure(now=now)
        report.attempt_partitions_dropped = len(partitions_drop_older_than(row_cutoff))
        # A week table detached but not dropped (its drop timed out) still holds foreign keys
        # to its deliveries: those wait for the next run, which drops it first.
        if not partitions_left_detached():
            report.deliveries_deleted, report.attempts_deleted = _delete_deliveries(
                row_cutoff, batch_size
            )
        report.feed_items_deleted = _delete_feed_items(row_cutoff)
        report.feed_fetches_deleted = FeedFetch.objects.filter(at__lt=row_cutoff).delete()[0]
        report.events_deleted = _delete_events(row_cutoff, batch_size)
    if payload_cutoff is not None:
        report.response_bodies_blanked = _blank_response_bodies(payload_cutoff, batch_size)
        report.event_bodies_blanked = _blank_event_bodies(payload_cutoff, batch_size)
    report.idempotent_responses_deleted = expired.delete()[0]
    report.portal_links_deleted = _ended_portal_links(now).delete()[0]
    logger.info("retention purge done", extra=report.as_dict())
    return report
