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

Publish order is event id order: a process's ids only grow (``webhooks_platform.ids``), and
ids from several processes follow their clocks. An event whose publishing transaction commits
after a later event of the same endpoint was sent goes out after it: the sender cannot wait
for what it cannot see.

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

_BUSY = (Delivery.Status.PENDING, Delivery.Status.SENDING)


def ordered_lock(endpoint_id: str) -> None:
    """The endpoint's ordering lock, held to the end of the transaction. Take it before
    locking any of the endpoint's delivery rows, as ``ordered_release`` does."""
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"ordered:{endpoint_id}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def ordered_release(
    endpoint_ids: Iterable[str],
    *,
    now: datetime,
    claims: Mapping[str, tuple[uuid.UUID, datetime]] | None = None,
) -> list[int]:
    """For each of ``endpoint_ids`` with nothing pending or sending, make its held delivery of
    the earliest event pending. Returns the ids released; call inside a transaction, then
    dispatch them (``deliveries.services.dispatch.ordered_release_and_dispatch``).

    ``claims``: endpoint -> (claim token, lease) of an engine with room for that endpoint's
    next delivery now. Its head is released already claimed (``sending`` under that token and
    lease, as the engine's claim would write it), for that engine to send without a wake-up or
    a claim statement; the caller hands it over after commit (``deliveries.engine.record``)."""
    claims = claims or {}
    released: list[int] = []
    for endpoint_id in sorted(set(endpoint_ids)):  # one lock order for every caller
        ordered_lock(endpoint_id)
        if Delivery.objects.filter(endpoint_id=endpoint_id, status__in=_BUSY).exists():
            continue
        head = (
            Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.HELD)
            .annotate(due=Coalesce("event__deliver_at", "event__created_at"))
            .filter(due__lte=now)
            .order_by("due", "event_id")
            .values_list("id", "event_id", "tenant_id")
            .first()
        )
        if head is None:
            continue
        pk, event_id, tenant_id = head
        if Event.objects.filter(
            tenant_id=tenant_id, fanned_out_at__isnull=True, pk__lt=event_id
        ).exists():
            # An earlier event of the tenant is still to be fanned out, and may be for this
            # endpoint: its fan-out releases (or the next sweep, if it is not for this one).
            continue
        fields: dict[str, Any] = {"status": Delivery.Status.PENDING}
        if endpoint_id in claims:
            token, lease_until = claims[endpoint_id]
            fields = {
                "status": Delivery.Status.SENDING,
                "claim_token": token,
                "lease_expires_at": lease_until,
            }
        if Delivery.objects.filter(pk=pk, status=Delivery.Status.HELD).update(
            next_attempt_at=now, dispatched_until=None, **fields
        ):
            released.append(pk)
    return released


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
