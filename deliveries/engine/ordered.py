"""Ordered endpoints' hand-over: when a head's try is recorded, its next delivery is released in
the same transaction, already claimed for this engine when it reserved room for it, so it goes
out without a broker wake-up or a claim statement (``deliveries.ordering`` keeps the order)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from deliveries import policy, transport
from deliveries.ordering import ordered_release_rows

from .claim import claimed_released
from .effects import Effects
from .endpoint_cache import EndpointView
from .flight import Flight
from .handover import Adopted, Handover, Reservations


def ordered_next_wanted(
    finished: list[tuple[Flight, transport.AttemptResult]],
    view: Callable[[str], EndpointView | None],
) -> dict[str, int]:
    """The ordered endpoints whose try just succeeded and whose next delivery the engine would
    claim now (circuit closed, no rate limit: its slots are the gate's to count; not a probe):
    the recorder releases that one already claimed, in the transaction that records this one,
    for the engine to send at once (no wake-up, no claim statement)."""
    wanted: dict[str, int] = {}
    for flight, result in finished:
        endpoint = view(flight.claimed.endpoint_id)
        if (
            flight.ordered
            and 200 <= result.status < 300
            and flight.probe_at is None
            and endpoint is not None
            and not endpoint.circuit_open
            and not endpoint.rate_limit
        ):
            wanted[flight.claimed.endpoint_id] = 1
    return wanted


def ordered_reserve_next(
    finished: list[tuple[Flight, transport.AttemptResult]],
    *,
    view: Callable[[str], EndpointView | None],
    reservations: Reservations,
    free: Callable[[str], int],
    room: int,
    lease_until: datetime,
) -> None:
    """Reserve room for the next delivery of each ordered endpoint whose try just succeeded
    and mark its flight with it (``Flight.handover``): the recorder releases that delivery
    already claimed under the reservation."""
    wanted = ordered_next_wanted(finished, view)
    if not wanted:
        return
    handover = reservations.reserve(wanted, free=free, room=room, lease_until=lease_until)
    if handover is None:
        return
    for flight, _ in finished:
        if flight.ordered and flight.claimed.endpoint_id in handover.counts:
            flight.handover = handover


def ordered_hand_over(
    decisions: Iterable[tuple[Flight, policy.Outcome]],
    cancelled: Iterable[Flight],
    *,
    kept: set[int],
    now: datetime,
    effects: Effects,
) -> list[Adopted]:
    """In the recorder's transaction: release the next delivery of each ordered endpoint whose
    head finished (succeeded, failed for good or was cancelled; not one to retry), claimed for
    this engine where it reserved room, else pending for a wake-up. Returns what was released
    claimed, for the engine to send after commit."""
    finished_ordered = {
        flight.claimed.endpoint_id: flight.handover
        for flight, outcome in decisions
        if flight.ordered and flight.claimed.id in kept and outcome is not policy.Outcome.RETRY
    }
    for flight in cancelled:  # a cancelled head lets its next go, by the broker's wake-up
        if flight.ordered and flight.claimed.id in kept:
            finished_ordered.setdefault(flight.claimed.endpoint_id, None)
    released = ordered_release_rows(
        finished_ordered, now=now, claims=ordered_claims(finished_ordered)
    )
    return ordered_adopted(released, finished_ordered, effects=effects)


def ordered_claims(
    finished_ordered: Mapping[str, Handover | None],
) -> dict[str, tuple[uuid.UUID, datetime]]:
    """Endpoint -> (claim token, lease) of the reservations its next delivery is released under."""
    return {
        endpoint_id: (handover.token, handover.lease_until)
        for endpoint_id, handover in finished_ordered.items()
        if handover is not None
    }


def ordered_adopted(
    released: list[tuple[Any, ...]],
    finished_ordered: Mapping[str, Handover | None],
    *,
    effects: Effects,
) -> list[Adopted]:
    """Of the rows a release returned (``RELEASED_COLUMNS``): those released claimed, for the
    engine to send after commit; the rest are dispatched."""
    adopted: dict[uuid.UUID, Adopted] = {}
    for row in (r for r in released if r[-1]):
        handover = finished_ordered[row[1]]
        assert handover is not None  # noqa: S101  released claimed only under a handover
        item = adopted.setdefault(handover.token, Adopted(handover, []))
        item.claimed.append(claimed_released(row, handover.token))
    if pending := [row[0] for row in released if not row[-1]]:
        effects.deliveries_dispatch(pending)
    return list(adopted.values())
