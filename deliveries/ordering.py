"""Ordered endpoints: one delivery at a time, in order of due time, then publish order.

The fan-out creates an ordered endpoint's deliveries ``held``. A held delivery is invisible to
the claim, the engine's discovery and the sweeper's dispatch, so nothing sends it. Whenever
nothing of the endpoint is pending or sending, ``ordered_release`` makes pending its held
delivery that is due (its event's ``deliver_at``, or its publish time for an event sent at
once) earliest, then of the earliest event: after the fan-out, when the delivery before it
finishes (succeeded, failed after its schedule, cancelled) or is skipped, and in every sweep (a
repair, should a release have been missed; and how a scheduled event takes its place once it
falls due). A scheduled event not yet due is never the head, so it holds nothing back: the
events due before it go first, and it goes when due, before those due after it. While the one before
it waits for a retry, later ones stay held; nor is one released while an earlier event of the
tenant waits for its fan-out (fan-outs of single events may finish out of order).

Publish order is event id order: a process's ids only grow (``platform_core.ids``), and
ids from several processes follow their clocks. An event whose publishing transaction commits
after a later event of the same endpoint was sent goes out after it: the sender cannot wait
for what it cannot see.

When the head succeeds in a worker whose engine has room for the next one now, the recorder's
transaction releases that next delivery already claimed for it (``claims``: ``sending`` under
the engine's token and lease), and the engine sends it as soon as the transaction commits: no
wake-up, no claim statement between the receiver's answer and the next request. Every check
above is the same on that path; a worker that dies before sending it leaves it to lease
recovery (still the only one pending or sending, so still first), and one that stops hands it
back untried.

On PostgreSQL a transaction-scoped advisory lock per endpoint orders a fan-out's check against
a finishing delivery's release, so that neither misses the other's rows. Test events and a
person's replays are not held: they go out at once, as they do through an open circuit.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models.functions import Coalesce

from deliveries.models import Delivery, Event
from endpoints.models import Endpoint
from platform_core.db import bound_cursor

_BUSY = (Delivery.Status.PENDING, Delivery.Status.SENDING)


def ordered_lock(endpoint_id: str) -> None:
    """The endpoint's ordering lock, held to the end of the transaction. Take it before
    locking any of the endpoint's delivery rows, as ``ordered_release`` does."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(endpoint_id)])


def _lock_key(endpoint_id: str) -> int:
    return zlib.crc32(f"ordered:{endpoint_id}".encode())


def ordered_release(endpoint_ids: Iterable[str], *, now: datetime) -> list[int]:
    """For each of ``endpoint_ids`` with nothing pending or sending, make its held delivery of
    the earliest event pending. Returns the ids released; call inside a transaction, then
    dispatch them (``deliveries.services.dispatch.ordered_release_and_dispatch``)."""
    return [row[0] for row in ordered_release_rows(endpoint_ids, now=now)]


# What ``ordered_release_rows`` returns of each released delivery: the columns the engine's
# claim returns (``deliveries.engine.claim``), then whether it was released claimed.
RELEASED_COLUMNS = (
    "id, endpoint_id, event_id, tenant_id, attempt_count, scheduled_attempts, manual_requested, "
    "event_type_id, body, created_at, body_is_payload, is_test, claimed"
)


def ordered_release_rows(
    endpoint_ids: Iterable[str],
    *,
    now: datetime,
    claims: Mapping[str, tuple[uuid.UUID, datetime]] | None = None,
) -> list[tuple[Any, ...]]:
    """``ordered_release``, returning the released rows (``RELEASED_COLUMNS``).

    ``claims``: endpoint -> (claim token, lease) of an engine with room for that endpoint's
    next delivery now. Its head is released already claimed (``sending`` under that token and
    lease, as the engine's claim writes it) for that engine to send without a wake-up or a
    claim statement; the caller hands it over after commit (``deliveries.engine.ordered``).
    On PostgreSQL: the endpoints' locks in one statement, then every check and release in one
    more, returning the rows joined to their events (the recorder's transaction waits on it)."""
    claims = claims or {}
    ordered = sorted(set(endpoint_ids))  # one lock order for every caller
    if not ordered:
        return []
    if connection.vendor == "postgresql":
        return _release_postgresql(ordered, now=now, claims=claims)
    released: list[int] = []
    for endpoint_id in ordered:
        ordered_lock(endpoint_id)
        pk = _release_one(endpoint_id, now=now, claim=claims.get(endpoint_id))
        if pk is not None:
            released.append(pk)
    if not released:
        return []
    rows = (
        Delivery.objects.filter(id__in=released)
        .order_by("id")
        .values_list(
            "id",
            "endpoint_id",
            "event_id",
            "tenant_id",
            "attempt_count",
            "scheduled_attempts",
            "manual_requested",
            "event_type_id",
            "event__body",
            "event__created_at",
            "event__body_is_payload",
            "event__is_test",
            "status",
        )
    )
    return [(*row[:-1], row[-1] == Delivery.Status.SENDING) for row in rows]


def _release_one(
    endpoint_id: str, *, now: datetime, claim: tuple[uuid.UUID, datetime] | None
) -> int | None:
    if Delivery.objects.filter(endpoint_id=endpoint_id, status__in=_BUSY).exists():
        return None
    head = (
        Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.HELD)
        .annotate(due=Coalesce("event__deliver_at", "event__created_at"))
        .filter(due__lte=now)
        .order_by("due", "event_id")
        .values_list("id", "event_id", "tenant_id")
        .first()
    )
    if head is None:
        return None
    pk, event_id, tenant_id = head
    if Event.objects.filter(
        tenant_id=tenant_id, fanned_out_at__isnull=True, pk__lt=event_id
    ).exists():
        # An earlier event of the tenant is still to be fanned out, and may be for this
        # endpoint: its fan-out releases (or the next sweep, if it is not for this one).
        return None
    fields: dict[str, Any] = {"status": Delivery.Status.PENDING}
    if claim is not None:
        fields = {
            "status": Delivery.Status.SENDING,
            "claim_token": claim[0],
            "lease_expires_at": claim[1],
        }
    updated = Delivery.objects.filter(pk=pk, status=Delivery.Status.HELD).update(
        next_attempt_at=now, dispatched_until=None, **fields
    )
    return pk if updated else None


_D = Delivery._meta.db_table
_E = Event._meta.db_table
# The locks in the order given (a volatile function in the select list runs row by row, in
# the ordinality's order). A statement of its own: the release's snapshot must be taken after
# the locks are held, so that it sees what a fan-out committed while this one waited.
_LOCKS_SQL = (
    "SELECT pg_advisory_xact_lock(k) FROM unnest(%b::bigint[]) WITH ORDINALITY AS t(k, i) "
    "ORDER BY i"
)
# Every endpoint's checks and release at once, as ``_release_one`` makes them one by one: the
# held delivery due earliest (then of the earliest event), if nothing of the endpoint is pending
# or sending and no earlier event of the tenant waits for its fan-out. ``heads`` is computed
# once (MATERIALIZED): inlined, with statistics that had not yet seen a burst of held rows, the
# planner scanned every held delivery and ran the per-endpoint search again for each (10
# endpoints with 50 held each: 250,000 index probes, 415 ms a statement; 4 ms materialized).
# Identifiers come from the models; every value is a parameter.
_RELEASE_SQL = f"""
WITH w AS (
    SELECT * FROM unnest(%b::varchar[], %b::uuid[], %b::timestamptz[])
        AS w(endpoint_id, token, lease_until)
), heads AS MATERIALIZED (
    SELECT h.id, w.token, w.lease_until FROM w
    CROSS JOIN LATERAL (
        SELECT d.id, d.event_id, d.tenant_id FROM {_D} AS d JOIN {_E} AS e ON e.id = d.event_id
        WHERE d.endpoint_id = w.endpoint_id AND d.status = 'held'
          AND COALESCE(e.deliver_at, e.created_at) <= %b
        ORDER BY COALESCE(e.deliver_at, e.created_at), d.event_id
        LIMIT 1
    ) AS h
    WHERE NOT EXISTS (
        SELECT 1 FROM {_D} AS b
        WHERE b.endpoint_id = w.endpoint_id AND b.status IN ('pending', 'sending')
    ) AND NOT EXISTS (
        SELECT 1 FROM {_E} AS p
        WHERE p.tenant_id = h.tenant_id AND p.fanned_out_at IS NULL AND p.id < h.event_id
    )
)
UPDATE {_D} AS d
SET status = CASE WHEN heads.token IS NULL THEN 'pending' ELSE 'sending' END,
    claim_token = heads.token, lease_expires_at = heads.lease_until,
    next_attempt_at = %b, dispatched_until = NULL
FROM heads, {_E} AS ev
WHERE d.id = heads.id AND d.status = 'held' AND ev.id = d.event_id
RETURNING d.id, d.endpoint_id, d.event_id, d.tenant_id, d.attempt_count, d.scheduled_attempts,
    d.manual_requested, d.event_type_id, ev.body, ev.created_at, ev.body_is_payload, ev.is_test,
    heads.token IS NOT NULL
"""  # noqa: S608


def _release_postgresql(
    endpoint_ids: list[str], *, now: datetime, claims: Mapping[str, tuple[uuid.UUID, datetime]]
) -> list[tuple[Any, ...]]:
    locks, release = ordered_release_statements(endpoint_ids, now=now, claims=claims)
    with bound_cursor() as cursor:
        cursor.execute(*locks)
        cursor.execute(*release)
        return sorted(cursor.fetchall())


def ordered_release_statements(
    endpoint_ids: list[str], *, now: datetime, claims: Mapping[str, tuple[uuid.UUID, datetime]]
) -> tuple[tuple[str, list[Any]], tuple[str, list[Any]]]:
    """PostgreSQL's release of ``endpoint_ids`` (sorted, as ``ordered_release_rows`` sorts
    them): the locks' statement and the release's, each (SQL, parameters) for a cursor that
    binds on the server (``platform_core.db.bound_cursor``). Two statements, in this order:
    the release's snapshot is taken once the locks are held. The release returns
    ``RELEASED_COLUMNS``."""
    none = (None, None)
    return (
        (_LOCKS_SQL, [[_lock_key(e) for e in endpoint_ids]]),
        (
            _RELEASE_SQL,
            [
                endpoint_ids,
                [claims.get(e, none)[0] for e in endpoint_ids],
                [claims.get(e, none)[1] for e in endpoint_ids],
                now,
                now,
            ],
        ),
    )


def ordered_repair(*, now: datetime, limit: int = 10_000) -> list[int]:
    """The sweeper's pass: release the head of every endpoint with held deliveries and nothing
    in flight (a release can be missed only by a crash between a finish and its commit).
    Returns the ids released, for the caller to dispatch."""
    endpoint_ids = list(
        Delivery.objects.filter(status=Delivery.Status.HELD)
        .order_by("endpoint_id")
        .values_list("endpoint_id", flat=True)
        .distinct()[:limit]
    )
    if not endpoint_ids:
        return []
    with transaction.atomic():
        # An endpoint made unordered where its deliveries were not let go (the admin, say).
        unordered = set(
            Endpoint.objects.filter(pk__in=endpoint_ids, ordered=False).values_list("pk", flat=True)
        )
        released = [pk for e in sorted(unordered) for pk in held_release_all(e, now=now)]
        rest = [e for e in endpoint_ids if e not in unordered]
        return released + ordered_release(rest, now=now)


def blocking_delivery(delivery: Delivery) -> int | None:
    """The id of the delivery a held one waits behind: its endpoint's pending or sending one of
    the earliest event (None: nothing; the next sweep releases it)."""
    return (
        Delivery.objects.filter(endpoint_id=delivery.endpoint_id, status__in=_BUSY)
        .order_by("event_id")
        .values_list("id", flat=True)
        .first()
    )


def held_release_all(endpoint_id: str, *, now: datetime) -> list[int]:
    """An endpoint no longer ordered: everything it held is made pending, to go out as usual.
    Returns the ids, for the caller to dispatch."""
    rows = list(
        Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.HELD).values_list(
            "id", "event__deliver_at"
        )
    )
    ids = [pk for pk, _ in rows]
    for pk, deliver_at in rows:
        Delivery.objects.filter(pk=pk, status=Delivery.Status.HELD).update(
            status=Delivery.Status.PENDING,
            next_attempt_at=deliver_at if deliver_at is not None and deliver_at > now else now,
        )
    return ids
