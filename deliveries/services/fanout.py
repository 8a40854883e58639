from __future__ import annotations

import functools
import logging
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from deliveries.engine import adopt_local, engine_enabled, has_local, reserve_local, wake_local
from deliveries.engine.claim import Claimed
from deliveries.engine.handover import Adopted, Handover, deliveries_hand_back
from deliveries.models import Delivery, Event, FeedItem
from deliveries.ordering import ordered_release_and_dispatch
from webhooks_platform.conf import WebhooksSettings, webhooks_settings
from webhooks_platform.db import bound_cursor, skip_locked

from .dispatch import deliveries_dispatch, fanout_flag_clear, fanout_flag_hold
from .subscribers import Subscribers, event_bodies, event_receivers, event_subscribers

logger = logging.getLogger(__name__)

BULK_CHUNK = 1000


def event_fan_out(*, event_id: str, send_here: bool = False) -> int:
    """Create one delivery per subscribed endpoint and dispatch them; returns how many exist.

    Idempotent: the unique (event, endpoint) constraint makes a second run create nothing, and
    dispatch skips deliveries already queued.

    ``send_here`` (the fan-out task): a fan-out that fits in one batch is sent by this worker
    instead of through the broker. Its deliveries are created already claimed (``sending``
    under a claim token and a lease, which is what the claim's UPDATE would have written), so
    the claim costs no statement of its own, and a worker that dies before recording them
    leaves them to the sweeper's lease recovery like any claimed delivery.
    """
    ws = webhooks_settings()
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
        created = _deliveries_create(
            [(event, event_receivers(event.pk, event.body, subscribers))],
            now=timezone.now(),
            ws=ws,
            claim_up_to=ws.delivery_batch_size if send_here else 0,
            ordered=subscribers.ordered,
            poll=subscribers.poll,
        )
    logger.info(
        "event fanned out",
        extra={"event_id": event.pk, "tenant_id": event.tenant_id, "deliveries": created},
    )
    return created


def _deliveries_create(
    targets: list[tuple[Event, list[str]]],
    *,
    now: datetime,
    ws: WebhooksSettings,
    claim_up_to: int,
    ordered: set[str] = frozenset(),  # type: ignore[assignment]
    poll: set[str] = frozenset(),  # type: ignore[assignment]
) -> int:
    """Create one delivery per event × endpoint in ``targets`` and mark the events fanned out;
    call inside a transaction. Returns how many deliveries were asked for.

    Deliveries to the ``ordered`` endpoints are created held, and each such endpoint's next one
    released when nothing of it is in flight (``deliveries.ordering``). The ``poll``
    endpoints get a feed item each instead (``deliveries.feed``).

    At most ``claim_up_to`` of them are created already claimed (``sending`` under a claim
    token and a lease, what the claim's UPDATE would have written) and sent from this worker
    after commit: no deliver message, no claim statement, and a worker that dies first leaves
    them to the sweeper's lease recovery like any claimed delivery. Otherwise, and for pending
    deliveries of an earlier run, dispatch through the broker.
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
    if engine_enabled() and connection.vendor == "postgresql":
        return _deliveries_insert(targets, now=now, ordered=ordered)
    rows = [
        Delivery(
            event_id=event.pk,
            endpoint_id=endpoint_id,
            tenant_id=event.tenant_id,
            event_type_id=event.event_type_id,
            status=(
                Delivery.Status.HELD
                if _held(event, endpoint_id, ordered)
                else Delivery.Status.PENDING
            ),
            next_attempt_at=_first_try(event, now),
        )
        for event, endpoint_ids in targets
        for endpoint_id in endpoint_ids
    ]
    token: uuid.UUID | None = None
    if (
        engine_enabled()
        or any(_first_try(event, now) > now for event, _ in targets)
        or any(row.status == Delivery.Status.HELD for row in rows)
    ):
        # The engine claims what it can start; creating them claimed would not. Nor may a
        # scheduled event's deliveries be sent before their time.
        claim_up_to = 0
    if 0 < len(rows) <= claim_up_to:
        token = uuid.uuid4()
        lease = now + timedelta(seconds=ws.lease_seconds)
        for row in rows:
            row.status, row.claim_token, row.lease_expires_at = (  # none is held here
                Delivery.Status.SENDING,
                token,
                lease,
            )
    Delivery.objects.bulk_create(rows, batch_size=BULK_CHUNK, ignore_conflicts=True)
    event_ids = [event.pk for event, _ in targets]
    Event.objects.filter(id__in=event_ids).update(fanned_out_at=now, fanout_dispatched_until=None)
    _ordered_release({row.endpoint_id for row in rows if row.status == Delivery.Status.HELD}, now)
    # Scheduled ones are left to the sweeper (or the engine's discovery) when they fall due.
    pending = list(
        Delivery.objects.filter(
            event_id__in=event_ids, status=Delivery.Status.PENDING, next_attempt_at__lte=now
        ).values_list("id", flat=True)
    )
    if pending:
        deliveries_dispatch(delivery_ids=pending)
    if token is not None:
        transaction.on_commit(functools.partial(_send_claimed, token, len(rows)))
    return len(rows)


def _held(event: Event, endpoint_id: str, ordered: set[str]) -> bool:
    """A new delivery to an ordered endpoint waits its turn; a test event's never does."""
    return endpoint_id in ordered and not event.only_endpoint_id


def _ordered_release(endpoint_ids: set[str], now: datetime) -> None:
    """Release the head of each ordered endpoint that got held deliveries, if it is free."""
    if endpoint_ids:
        ordered_release_and_dispatch(endpoint_ids, now=now)


def _first_try(event: Event, now: datetime) -> datetime:
    """When a new delivery of ``event`` is first due: now, or a scheduled event's time."""
    deliver_at = event.deliver_at
    return deliver_at if deliver_at is not None and deliver_at > now else now


_DELIVERIES = Delivery._meta.db_table
_EVENTS = Event._meta.db_table
# Identifiers from the models; every value is a parameter (one array per column, in binary),
# so the statement's text is the same for every batch. A row flagged ``adopt`` is created
# already claimed for this process's engine (``handover``): what the claim would have written,
# and comes back with what sending needs of its event (the body only for those).
_INSERT_DELIVERIES = f"""
WITH created AS (
    INSERT INTO {_DELIVERIES} (event_id, endpoint_id, tenant_id, event_type_id, status,
        attempt_count, scheduled_attempts, next_attempt_at, manual_requested, last_error,
        cancel_reason, created_at, claim_token, lease_expires_at)
    SELECT t.event_id, t.endpoint_id, t.tenant_id, t.event_type_id,
        CASE WHEN t.adopt THEN 'sending' WHEN t.held THEN 'held' ELSE 'pending' END, 0, 0,
        t.due, false, '', '', %b,
        CASE WHEN t.adopt THEN %b::uuid END, CASE WHEN t.adopt THEN %b::timestamptz END
    FROM unnest(%b::varchar[], %b::varchar[], %b::bigint[], %b::bigint[], %b::boolean[],
        %b::timestamptz[], %b::boolean[])
        AS t(event_id, endpoint_id, tenant_id, event_type_id, adopt, due, held)
    ON CONFLICT DO NOTHING
    RETURNING id, endpoint_id, event_id, tenant_id, status, event_type_id
)
SELECT c.id, c.endpoint_id, c.event_id, c.tenant_id, c.status = 'sending', ev.body,
    ev.created_at, ev.body_is_payload, ev.is_test, c.event_type_id
FROM created AS c LEFT JOIN LATERAL (
    -- A subquery kept as such (LIMIT), so its test of the created row is a one-time filter:
    -- the event is looked up for claimed rows only, not for every row of a backlog's drain.
    SELECT e.body, e.created_at, e.body_is_payload, e.is_test FROM {_EVENTS} AS e
    WHERE c.status = 'sending' AND e.id = c.event_id LIMIT 1
) AS ev ON true
"""  # noqa: S608
_EVENTS_FANNED_OUT = (
    f"UPDATE {Event._meta.db_table} SET fanned_out_at = %s, fanout_dispatched_until = NULL "  # noqa: S608
    "WHERE id = ANY(%b::varchar[])"
)


def _deliveries_insert(
    targets: list[tuple[Event, list[str]]], *, now: datetime, ordered: set[str]
) -> int:
    """The engine's fan-out on PostgreSQL: every delivery of the batch in one ``INSERT …
    SELECT FROM unnest(…) … RETURNING`` and the events marked in one UPDATE, no model objects.

    When this process's engine runs, as many as it can start now are created already claimed
    and handed to it after commit (``deliveries.engine.handover``); it is woken for the rest.
    Without a local engine the new deliveries go through the broker. Deliveries an earlier run
    created are found by the engine's discovery."""
    wanted: Counter[str] = Counter()
    for event, endpoint_ids in targets:
        if _first_try(event, now) == now:  # a scheduled event's deliveries are never adopted
            wanted.update(e for e in endpoint_ids if not _held(event, e, ordered))
    handover = reserve_local(dict(wanted), now=now) if wanted and has_local() else None
    room = Counter(handover.counts) if handover is not None else Counter()
    columns: tuple[
        list[str], list[str], list[int], list[int], list[bool], list[datetime], list[bool]
    ] = ([], [], [], [], [], [], [])
    held: set[str] = set()  # ordered endpoints that got held deliveries
    held_pairs: set[tuple[str, str]] = set()
    for event, endpoint_ids in targets:
        due = _first_try(event, now)
        for endpoint_id in endpoint_ids:
            hold = _held(event, endpoint_id, ordered)
            if hold:
                held.add(endpoint_id)
                held_pairs.add((event.pk, endpoint_id))
            adopt = not hold and due == now and room[endpoint_id] > 0
            room[endpoint_id] -= adopt
            columns[0].append(event.pk)
            columns[1].append(endpoint_id)
            columns[2].append(event.tenant_id)
            columns[3].append(event.event_type_id)
            columns[4].append(adopt)
            columns[5].append(due)
            columns[6].append(hold)
    token = handover.token if handover is not None else None
    lease = handover.lease_until if handover is not None else None
    with bound_cursor() as cursor:
        created: list[tuple[Any, ...]] = []
        if columns[0]:
            cursor.execute(_INSERT_DELIVERIES, [now, token, lease, *columns])
            created = cursor.fetchall()
        cursor.execute(_EVENTS_FANNED_OUT, [now, [event.pk for event, _ in targets]])
    _ordered_release(held, now)
    adopted = [_claimed_new(row, token) for row in created if row[4] and token is not None]
    # A scheduled event's deliveries are found by the engines' discovery when they fall due;
    # held ones are dispatched when released.
    scheduled = {event.pk for event, _ in targets if _first_try(event, now) > now}
    pending = [
        (row[0], row[1])
        for row in created
        if not row[4] and row[2] not in scheduled and (row[2], row[1]) not in held_pairs
    ]
    if handover is not None:
        transaction.on_commit(functools.partial(_hand_over, handover, adopted))
    if pending:
        if has_local():
            endpoint_ids = {endpoint_id for _, endpoint_id in pending}
            transaction.on_commit(lambda: wake_local(endpoint_ids))
        else:
            deliveries_dispatch(delivery_ids=[pk for pk, _ in pending])
    return len(columns[0])


def _claimed_new(row: tuple[Any, ...], token: uuid.UUID) -> Claimed:
    """A delivery created claimed, from a row of ``_INSERT_DELIVERIES``."""
    pk, endpoint_id, event_id, tenant_id, _, body, created_at, svix_format, test, type_id = row
    return Claimed(
        id=pk,
        endpoint_id=endpoint_id,
        event_id=event_id,
        tenant_id=tenant_id,
        attempt_count=0,
        scheduled_attempts=0,
        manual_requested=False,
        claim_token=token,
        body=body,
        event_created_at=created_at,
        svix_format=svix_format,
        test=test,
        event_type_id=type_id,
    )


def _hand_over(handover: Handover, adopted: list[Claimed]) -> None:
    """After commit: the engine sends what was created for it. Should it have stopped since,
    the deliveries go back to pending and through the broker, untried."""
    if adopt_local(Adopted(handover, adopted)):
        return
    deliveries_hand_back(handover.token)
    if adopted:
        deliveries_dispatch(delivery_ids=[c.id for c in adopted])


def _send_claimed(token: uuid.UUID, expected: int) -> None:
    from .sending import deliveries_send

    try:
        deliveries_send(claim_token=token, expected=expected, wait=False)
    except Exception:  # noqa: BLE001  hand them back and let the broker carry them instead
        logger.exception("sending from the fan-out failed; queueing the deliveries instead")
        ids = list(
            Delivery.objects.filter(claim_token=token, status=Delivery.Status.SENDING).values_list(
                "id", flat=True
            )
        )
        Delivery.objects.filter(id__in=ids, claim_token=token).update(
            status=Delivery.Status.PENDING, claim_token=None, lease_expires_at=None
        )
        deliveries_dispatch(delivery_ids=ids)


DRAIN_LIMIT = 1000


def _audience(event: Event) -> tuple[int, str | None, tuple[str, ...]]:
    """What decides an event's subscribers: events alike in it share one lookup."""
    return (event.event_type_id, event.only_endpoint_id, tuple(sorted(event.channels or ())))


SEND_HERE_MAX_BATCHES = 4

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
            drained = events_fan_out_pending(tenant_id=tenant_id, send_here=True)
            total += drained
            if not drained or time.monotonic() >= until:
                break
            fanout_flag_hold(tenant_id)
    fanout_flag_clear(tenant_id)
    total += events_fan_out_pending(tenant_id=tenant_id, send_here=True)
    if len(_last_drain) >= _MAX_REMEMBERED:
        _last_drain.clear()
    _last_drain[tenant_id] = time.monotonic()
    return total


def events_fan_out_pending(*, tenant_id: int, send_here: bool = False) -> int:
    """Fan out every event of ``tenant_id`` still waiting, a thousand at a time, in bulk.

    A few statements per thousand events instead of a dozen per event. Events another worker is
    draining are skipped (``SKIP LOCKED``); the unique (event, endpoint) constraint makes any
    overlap harmless. Returns how many events were fanned out.

    ``send_here`` (the task): a drain whose deliveries fit in a few batches creates them already
    claimed and sends them from this worker, as ``event_fan_out`` does for one event — no deliver
    message, no claim statement. Larger drains go through the broker, spread over the workers.
    """
    ws = webhooks_settings()
    total = 0
    while True:
        now = timezone.now()
        with transaction.atomic():
            events = list(
                skip_locked(
                    Event.objects.filter(tenant_id=tenant_id, fanned_out_at__isnull=True)
                    .order_by("created_at")
                    .only(
                        "id",
                        "tenant_id",
                        "event_type_id",
                        "only_endpoint_id",
                        "channels",
                        "deliver_at",
                    )
                )[:DRAIN_LIMIT]
            )
            if not events:
                break
            subscribers: dict[tuple[int, str | None, tuple[str, ...]], Subscribers] = {}
            keys = [_audience(event) for event in events]
            for event, key in zip(events, keys, strict=True):
                if key not in subscribers:
                    subscribers[key] = event_subscribers(event=event)
            # Bodies are read only for events some endpoint's payload filter has to decide.
            bodies = event_bodies(
                e for e, key in zip(events, keys, strict=True) if subscribers[key].filtered
            )
            created = _deliveries_create(
                [
                    (e, event_receivers(e.pk, bodies.get(e.pk, ""), subscribers[key]))
                    for e, key in zip(events, keys, strict=True)
                ],
                now=now,
                ws=ws,
                claim_up_to=SEND_HERE_MAX_BATCHES * ws.delivery_batch_size if send_here else 0,
                ordered=set().union(*(s.ordered for s in subscribers.values())),
                poll=set().union(*(s.poll for s in subscribers.values())),
            )
        total += len(events)
        logger.info(
            "events fanned out",
            extra={"tenant_id": tenant_id, "events": len(events), "deliveries": created},
        )
        if len(events) < DRAIN_LIMIT:
            break
    return total
