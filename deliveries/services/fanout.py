from __future__ import annotations

import logging
import time
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from deliveries.models import Delivery, Event, FeedItem
from platform_core.conf import webhooks_settings
from platform_core.db import skip_locked

from .dispatch import deliveries_dispatch, fanout_flag_clear, fanout_flag_hold
from .fanout_insert import deliveries_insert, first_try, held, ordered_release
from .subscribers import Subscribers, event_bodies, event_receivers, event_subscribers

logger = logging.getLogger(__name__)

BULK_CHUNK = 1000


def event_fan_out(*, event_id: str) -> int:
    """Create one delivery per subscribed endpoint and dispatch them; returns how many exist.

    Idempotent: the unique (event, endpoint) constraint makes a second run create nothing, and
    dispatch skips deliveries already queued.

    """
    with transaction.atomic():
        # The event row first, as the tenant drain takes it: one lock order everywhere (rows of
        # deliveries_event, then deliveries), so the two cannot deadlock. A drain holding it
        # right now fans this event out itself.
        event = skip_locked(Event.objects.filter(pk=event_id)).first()
        if event is None:
            if not Event.objects.filter(pk=event_id).exists():
                logger.warning("fan-out of unknown event", extra={"event_id": event_id})
            return 0
        subscribers = event_subscribers(event=event)
        if not subscribers.filtered:
            created = _deliveries_create(
                [(event, subscribers.always)],
                now=timezone.now(),
                ordered=subscribers.ordered,
                poll=subscribers.poll,
            )
    if subscribers.filtered:
        created = _filtered_fan_out([(event, subscribers)], bodies={event.pk: event.body})
    logger.info(
        "event fanned out",
        extra={"event_id": event.pk, "tenant_id": event.tenant_id, "deliveries": created},
    )
    return created


# What the fan-out reads of an event it creates deliveries for (the body only where a payload
# filter has to decide, and then outside the transaction).
_FANOUT_FIELDS = ("id", "tenant_id", "event_type_id", "only_endpoint_id", "channels", "deliver_at")


def _filtered_fan_out(
    waiting: list[tuple[Event, Subscribers]],
    *,
    bodies: dict[str, str],
    unfanned_only: bool = False,
) -> int:
    """Fan out events whose audience has payload filters, the filters first.

    The filters run with no transaction open and no row locked: one evaluation is bounded
    (``payload_filter.MAX_REGEX_WORK``), but a drain of a thousand large events times several
    filtered endpoints is not, and a transaction held open through it would hold the events'
    locks, and the database's snapshot, as long. The events are then locked again to create their
    deliveries; one another worker holds (or, with ``unfanned_only``, has fanned out meanwhile)
    is left to it, and the unique (event, endpoint) constraint makes any overlap harmless.
    """
    receivers = {
        event.pk: event_receivers(event.pk, bodies.get(event.pk, ""), subscribers)
        for event, subscribers in waiting
    }
    events = Event.objects.filter(pk__in=list(receivers))
    if unfanned_only:
        events = events.filter(fanned_out_at__isnull=True)
    with transaction.atomic():
        locked = list(skip_locked(events.order_by("created_at").only(*_FANOUT_FIELDS)))
        if not locked:
            return 0
        return _deliveries_create(
            [(event, receivers[event.pk]) for event in locked],
            now=timezone.now(),
            ordered=set().union(*(s.ordered for _, s in waiting)),
            poll=set().union(*(s.poll for _, s in waiting)),
        )


def _deliveries_create(
    targets: list[tuple[Event, list[str]]],
    *,
    now: datetime,
    ordered: set[str] = frozenset(),  # type: ignore[assignment]
    poll: set[str] = frozenset(),  # type: ignore[assignment]
) -> int:
    """Create one delivery per event × endpoint in ``targets`` and mark the events fanned out;
    call inside a transaction. Returns how many deliveries were asked for.

    Deliveries to the ``ordered`` endpoints are created held, and each such endpoint's next one
    released when nothing of it is in flight (``deliveries.ordering``). The ``poll``
    endpoints get a feed item each instead (``deliveries.feed``).

    On PostgreSQL one statement creates them, and those this process's engine can start now are
    created already claimed for it (``fanout_insert``). Elsewhere they are created pending and
    the engines are woken for them.
    """
    if poll:
        feed_items = [
            FeedItem(endpoint_id=endpoint_id, event_id=event.pk)
            for event, endpoint_ids in targets
            for endpoint_id in endpoint_ids
            if endpoint_id in poll
        ]
        FeedItem.objects.bulk_create(feed_items, batch_size=BULK_CHUNK, ignore_conflicts=True)
        targets = [(event, [e for e in ids if e not in poll]) for event, ids in targets]
    if connection.vendor == "postgresql":
        return deliveries_insert(targets, now=now, ordered=ordered)
    rows = [
        Delivery(
            event_id=event.pk,
            endpoint_id=endpoint_id,
            tenant_id=event.tenant_id,
            event_type_id=event.event_type_id,
            status=(
                Delivery.Status.HELD
                if held(event, endpoint_id, ordered)
                else Delivery.Status.PENDING
            ),
            next_attempt_at=first_try(event, now),
        )
        for event, endpoint_ids in targets
        for endpoint_id in endpoint_ids
    ]
    Delivery.objects.bulk_create(rows, batch_size=BULK_CHUNK, ignore_conflicts=True)
    event_ids = [event.pk for event, _ in targets]
    Event.objects.filter(id__in=event_ids).update(fanned_out_at=now, fanout_dispatched_until=None)
    ordered_release({row.endpoint_id for row in rows if row.status == Delivery.Status.HELD}, now)
    # Scheduled ones are left to the sweeper (or the engine's discovery) when they fall due.
    pending = list(
        Delivery.objects.filter(
            event_id__in=event_ids, status=Delivery.Status.PENDING, next_attempt_at__lte=now
        ).values_list("id", flat=True)
    )
    if pending:
        deliveries_dispatch(delivery_ids=pending)
    return len(rows)


DRAIN_LIMIT = 1000


def _audience(event: Event) -> tuple[int, str | None, tuple[str, ...]]:
    """What decides an event's subscribers: events alike in it share one lookup."""
    return (event.event_type_id, event.only_endpoint_id, tuple(sorted(event.channels or ())))


# A tenant drained this recently is publishing a stream: its next drain lingers first.
STREAM_GAP_SECONDS = 0.25
# How long one drain keeps taking a stream's events before it lets the next message take over.
STREAM_HOLD_SECONDS = 2.0
_MAX_REMEMBERED = 10_000
_last_drain: dict[int, float] = {}


def fan_out_tenant_drain(*, tenant_id: int) -> int:
    """Answer a tenant's fan-out message: fan out what waits, and while the tenant streams,
    keep doing so with its flag up.

    A single publish after a quiet spell is drained at once. While a tenant publishes a stream,
    the drain keeps the flag up and takes the stream's events every ``fanout_linger``, for up
    to ``STREAM_HOLD_SECONDS`` or until a linger brings nothing: publishes meanwhile see the
    flag up and send no message, so one message, and one drain per linger, serve the stream
    (bench scenario 1 sent a message, and ran a drain, per ten events). The flag is dropped
    before the last drain, which keeps the rule that an event committed after the drop is
    either seen by that drain or raises the flag again (and so sends another message).
    """
    linger = webhooks_settings().fanout_linger
    last = _last_drain.get(tenant_id)
    total = 0
    if linger > 0 and last is not None and time.monotonic() - last < STREAM_GAP_SECONDS:
        until = time.monotonic() + STREAM_HOLD_SECONDS
        while True:
            time.sleep(linger)
            drained = events_fan_out_pending(tenant_id=tenant_id)
            total += drained
            if not drained or time.monotonic() >= until:
                break
            fanout_flag_hold(tenant_id)
    fanout_flag_clear(tenant_id)
    total += events_fan_out_pending(tenant_id=tenant_id)
    if len(_last_drain) >= _MAX_REMEMBERED:
        _last_drain.clear()
    _last_drain[tenant_id] = time.monotonic()
    return total


def events_fan_out_pending(*, tenant_id: int) -> int:
    """Fan out every event of ``tenant_id`` still waiting, a thousand at a time, in bulk.

    A few statements per thousand events instead of a dozen per event. Events another worker is
    draining are skipped (``SKIP LOCKED``); the unique (event, endpoint) constraint makes any
    overlap harmless. Returns how many events were fanned out.
    """
    total = 0
    while True:
        now = timezone.now()
        with transaction.atomic():
            events = list(
                skip_locked(
                    Event.objects.filter(tenant_id=tenant_id, fanned_out_at__isnull=True)
                    .order_by("created_at")
                    .only(*_FANOUT_FIELDS)
                )[:DRAIN_LIMIT]
            )
            if not events:
                break
            subscribers: dict[tuple[int, str | None, tuple[str, ...]], Subscribers] = {}
            keys = [_audience(event) for event in events]
            for event, key in zip(events, keys, strict=True):
                if key not in subscribers:
                    subscribers[key] = event_subscribers(event=event)
            audiences = [subscribers[key] for key in keys]
            # Events some endpoint's payload filter has to decide wait for this transaction's
            # end: their filters run outside it (``_filtered_fan_out``). An ordered endpoint's
            # later event does not overtake them: its release waits for earlier events' fan-out.
            decided = [
                (e, s.always) for e, s in zip(events, audiences, strict=True) if not s.filtered
            ]
            waiting = [(e, s) for e, s in zip(events, audiences, strict=True) if s.filtered]
            created = 0
            if decided:
                created = _deliveries_create(
                    decided,
                    now=now,
                    ordered=set().union(*(s.ordered for s in audiences if not s.filtered)),
                    poll=set().union(*(s.poll for s in audiences if not s.filtered)),
                )
        if waiting:
            created += _filtered_fan_out(
                waiting,
                bodies=event_bodies(e for e, _ in waiting),
                unfanned_only=True,
            )
        total += len(events)
        logger.info(
            "events fanned out",
            extra={"tenant_id": tenant_id, "events": len(events), "deliveries": created},
        )
        if len(events) < DRAIN_LIMIT:
            break
    return total
