"""What each endpoint may send now, decided before anything is claimed.

- The circuit breaker: an open circuit lets one probe through when it is due (taken on the
  endpoint row, so one worker wins), and manual tries (a person's replay, test event or recover)
  at once.
- The rate limit: a GCRA reservation on the endpoint row, shared by every worker.

How many requests an endpoint may have in flight is its window (``slots.Window``); what the
engine knows of the endpoint is ``endpoint_cache.EndpointView``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction

from endpoints.models import Endpoint
from platform_core.conf import WebhooksSettings

from .claim import Want
from .endpoint_cache import EndpointView
from .health import CIRCUIT_OPEN


@dataclass
class Gated:
    """What one claim round may ask for, after the circuit breakers and rate limits."""

    wants: list[Want] = field(default_factory=list)
    rate_granted: dict[str, int] = field(default_factory=dict)  # endpoint -> slots it reserved
    held: dict[str, datetime] = field(default_factory=dict)  # endpoint -> rate-limited until


def gate_round(
    views: Sequence[EndpointView],
    *,
    free: Callable[[str], int],
    in_flight: Callable[[str], int],
    now: datetime,
    ws: WebhooksSettings,
) -> Gated:
    """What to claim for each endpoint, in the order given: its free room while its circuit is
    closed, a probe or manual tries while it is open, and no more than its rate limit grants."""
    gated = Gated()
    for view in views:
        want = want_for(view, free=free(view.id), in_flight=in_flight(view.id), now=now, ws=ws)
        if want is None:
            continue
        if view.rate_limit and not want.manual_only:
            granted, next_free, _ = rate_reserve(view.id, view.rate_limit, want.count, now)
            if granted == 0:
                gated.held[view.id] = next_free
                if want.probe_at is not None:
                    probe_return(view.id, want.probe_at, now)
                continue
            gated.rate_granted[view.id] = granted
            want = Want(view.id, granted, probe_at=want.probe_at)
        gated.wants.append(want)
    return gated


def gate_settle(
    gated: Gated, got: Counter[str], views: dict[str, EndpointView], now: datetime
) -> None:
    """After the claim: rate-limit slots it did not use go back, and a probe that found nothing
    to send is due again at once."""
    for want in gated.wants:
        if want.endpoint_id in gated.rate_granted:
            unused = gated.rate_granted[want.endpoint_id] - got[want.endpoint_id]
            rate_refund(want.endpoint_id, views[want.endpoint_id].rate_limit or 1, unused, now)
        if want.probe_at is not None and not got[want.endpoint_id]:
            probe_return(want.endpoint_id, want.probe_at, now)


def want_for(
    view: EndpointView, *, free: int, in_flight: int, now: datetime, ws: WebhooksSettings
) -> Want | None:
    """What to claim for an endpoint with ``free`` slots: all of them while its circuit is
    closed; with it open, one probe when due (and none is out), else manual tries only."""
    if view.ordered:
        # Only its head is ever pending (and a person's replays): one request at a time.
        free = min(free, 1 - in_flight)
    if free <= 0:
        return None
    if not view.circuit_open:
        return Want(view.id, free)
    if view.probe_due and not in_flight:
        probe_at = probe_take(view.id, now, ws)
        if probe_at is not None:
            return Want(view.id, 1, probe_at=probe_at)
    return Want(view.id, free, manual_only=True)


def probe_take(endpoint_id: str, now: datetime, ws: WebhooksSettings) -> datetime | None:
    """Let one probe through an open circuit: when it goes out (``circuit_probe_at``, which its
    result is recorded against), or None if it is not due or another worker took it. Pushes the
    next probe past this one's lease, so a lost probe is followed by another."""
    taken = Endpoint.objects.filter(
        pk=endpoint_id, circuit_state=CIRCUIT_OPEN, circuit_next_probe_at__lte=now
    ).update(circuit_next_probe_at=now + timedelta(seconds=ws.lease_seconds), circuit_probe_at=now)
    return now if taken else None


def probe_return(endpoint_id: str, probe_at: datetime, now: datetime) -> None:
    """A probe taken that found nothing to send: due again now, not after its lease."""
    Endpoint.objects.filter(
        pk=endpoint_id, circuit_state=CIRCUIT_OPEN, circuit_probe_at=probe_at
    ).update(circuit_next_probe_at=now, circuit_probe_at=None)


def rate_reserve(
    endpoint_id: str, rate_limit: int, wanted: int, now: datetime
) -> tuple[int, datetime, float]:
    """GCRA over ``Endpoint.rate_limit_tat``: how many of ``wanted`` may go now.

    Allows a burst of one second's worth. The row lock makes it correct across every worker on
    every machine, on PostgreSQL and on SQLite (whose write transactions are serialised).
    Returns (granted, when the next slot frees, seconds per slot).
    """
    interval = 1.0 / rate_limit
    with transaction.atomic():
        row = Endpoint.objects.select_for_update().only("rate_limit_tat").get(pk=endpoint_id)
        tat = max(row.rate_limit_tat or now, now)
        room = (now + timedelta(seconds=1) - tat).total_seconds()
        granted = max(0, min(wanted, math.floor(room / interval + 1e-9)))
        tat = tat + timedelta(seconds=granted * interval)
        Endpoint.objects.filter(pk=endpoint_id).update(rate_limit_tat=tat)
    return granted, tat, interval


def rate_refund(endpoint_id: str, rate_limit: int, unused: int, now: datetime) -> None:
    """Give back reserved slots that found nothing to send (never below ``now``)."""
    if unused <= 0:
        return
    back = timedelta(seconds=unused / rate_limit)
    with transaction.atomic():
        row = Endpoint.objects.select_for_update().only("rate_limit_tat").get(pk=endpoint_id)
        if row.rate_limit_tat is None:
            return
        Endpoint.objects.filter(pk=endpoint_id).update(
            rate_limit_tat=max(row.rate_limit_tat - back, now)
        )
