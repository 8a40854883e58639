"""One claim round of the engine: which due endpoints to serve with the room it has, what the
gate lets each take, and the claim statement for all of them."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from platform_core.conf import WebhooksSettings

from .claim import Claimed, claim
from .endpoint_cache import EndpointCache, EndpointView
from .gate import gate_round, gate_settle
from .slots import Slots

HOLD_SECONDS = 5.0


@dataclass
class Round:
    """What a round claimed, for the engine to launch under ``token``."""

    token: uuid.UUID
    claimed: list[Claimed]
    views: dict[str, EndpointView]
    probes: dict[str, datetime] = field(default_factory=dict)


def room_worth_claiming(room: int, flying: int, ws: WebhooksSettings) -> bool:
    """Free room in the process for a claim: any when idle, else an eighth of the limit (so
    that with thousands of endpoints due, a turn per finished request does not scan them
    all for one slot)."""
    return room > 0 and (not flying or room >= max(1, ws.sender_max_pending // 8))


def claim_round(
    due_now: list[str],
    *,
    flying: int,
    slots: Slots,
    cache: EndpointCache,
    due: dict[str, datetime],
    held: dict[str, datetime],
    now: datetime,
    ws: WebhooksSettings,
) -> Round | None:
    """Claim for the endpoints of ``due_now`` what their windows and the process have room
    for; ``due`` and ``held`` (the engine's) learn which have nothing more now."""
    room = slots.room(ws, flying)
    candidates = [e for e in due_now if slots.has_room(e, ws)]
    if not room_worth_claiming(room, flying, ws):
        # An ordered endpoint sends one at a time: waiting for an eighth of the room to
        # free before its next one would hold it to a few deliveries a second. (Endpoints
        # never read yet are read once to know.)
        unknown = [e for e in candidates if cache.peek(e) is None]
        if unknown and room > 0:
            cache.load(unknown, now, ws)
        candidates = [e for e in candidates if (v := cache.peek(e)) and v.ordered]
    if room <= 0 or not candidates:
        return None

    # Ordered endpoints first (up to half the room), then oldest due first, and no more
    # endpoints than the room could serve one delivery each: with thousands due, a round reads
    # and asks for only those it can start. An ordered endpoint asks for one delivery, its
    # head, and is due again only when the previous one was recorded: by age alone it queued
    # behind every plain endpoint still due since the stream began (bench scenario 7). The cap
    # keeps many ordered endpoints from starving plain ones.
    def served_first(endpoint_ids: Iterable[str]) -> list[str]:
        by_age = sorted(endpoint_ids, key=lambda e: due.get(e, now))
        ordered = [e for e in by_age if (v := cache.peek(e)) is not None and v.ordered]
        ordered = ordered[: max(1, room // 2)]
        first = set(ordered)
        return ordered + [e for e in by_age if e not in first]

    if len(candidates) > room:
        candidates = served_first(candidates)[:room]
    views = cache.load(candidates, now, ws)
    for endpoint_id in candidates:
        if endpoint_id not in views:  # disabled or deleted: the sweeper cancels its work
            due.pop(endpoint_id, None)
    # The same order. Each endpoint may ask for all its free room; the claim as a whole
    # takes at most ``room`` (endpoints earlier first), so endpoints with one delivery each do
    # not reserve a window.
    gated = gate_round(
        [views[e] for e in served_first(views)],
        free=lambda e: min(room, slots.free(e, ws)),
        in_flight=slots.in_flight,
        now=now,
        ws=ws,
    )
    held.update(gated.held)
    wants = gated.wants
    if not wants:
        return None
    token = uuid.uuid4()
    claimed = claim(
        wants,
        now=now,
        lease_until=now + timedelta(seconds=ws.lease_seconds),
        token=token,
        limit=room,
    )
    got = Counter(c.endpoint_id for c in claimed)
    complete = len(claimed) < room  # every endpoint got all it could: none was cut short
    for want in wants:
        if complete and got[want.endpoint_id] < want.count:
            # Nothing more is due there now; discovery or a wake-up brings it back.
            due.pop(want.endpoint_id, None)
            if want.manual_only:
                # Until the next probe, or a wake-up (a person's replay) if sooner; a lost
                # wake-up costs a manual try at most HOLD_SECONDS.
                probe = views[want.endpoint_id].next_probe_at or now
                held[want.endpoint_id] = min(probe, now + timedelta(seconds=HOLD_SECONDS))
    gate_settle(gated, got, views, now)
    if not claimed:
        return None
    probes = {w.endpoint_id: w.probe_at for w in wants if w.probe_at is not None}
    return Round(token, claimed, views, probes)
