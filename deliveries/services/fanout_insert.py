"""The fan-out's rules for a new delivery (when it is first due, whether it is held), and the
engine's fan-out on PostgreSQL: one statement per batch of events, deliveries the local engine
can start now created already claimed and handed over after commit."""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from django.db import transaction

from deliveries.engine import adopt_local, has_local, reserve_local, wake_local
from deliveries.engine.claim import Claimed
from deliveries.engine.handover import Adopted, Handover, deliveries_hand_back
from deliveries.models import Delivery, Event
from platform_core.db import bound_cursor

from .dispatch import deliveries_dispatch, ordered_release_and_dispatch


def held(event: Event, endpoint_id: str, ordered: set[str]) -> bool:
    """A new delivery to an ordered endpoint waits its turn; a test event's never does."""
    return endpoint_id in ordered and not event.only_endpoint_id


def ordered_release(endpoint_ids: set[str], now: datetime) -> None:
    """Release the head of each ordered endpoint that got held deliveries, if it is free."""
    if endpoint_ids:
        ordered_release_and_dispatch(endpoint_ids, now=now)


def first_try(event: Event, now: datetime) -> datetime:
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


def deliveries_insert(
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
        if first_try(event, now) == now:  # a scheduled event's deliveries are never adopted
            wanted.update(e for e in endpoint_ids if not held(event, e, ordered))
    handover = reserve_local(dict(wanted), now=now) if wanted and has_local() else None
    room = Counter(handover.counts) if handover is not None else Counter()
    columns: tuple[
        list[str], list[str], list[int], list[int], list[bool], list[datetime], list[bool]
    ] = ([], [], [], [], [], [], [])
    held_endpoints: set[str] = set()  # ordered endpoints that got held deliveries
    held_pairs: set[tuple[str, str]] = set()
    for event, endpoint_ids in targets:
        due = first_try(event, now)
        for endpoint_id in endpoint_ids:
            hold = held(event, endpoint_id, ordered)
            if hold:
                held_endpoints.add(endpoint_id)
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
    ordered_release(held_endpoints, now)
    adopted = [_claimed_new(row, token) for row in created if row[4] and token is not None]
    # A scheduled event's deliveries are found by the engines' discovery when they fall due;
    # held ones are dispatched when released.
    scheduled = {event.pk for event, _ in targets if first_try(event, now) > now}
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
