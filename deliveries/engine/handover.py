"""Deliveries this process's fan-out creates already claimed for its own engine.

A stream to one endpoint wrote each delivery three times: created ``pending``, claimed
(``sending`` under a token and a lease), then its result. When the fan-out runs in a worker
whose engine has room for an endpoint now, it reserves that room, creates that many deliveries
already claimed (what the claim's UPDATE would have written) and hands them over after its
commit: one write of each delivery, and the claim statement, fewer.

Only what the engine can start at once is reserved: free room in the endpoint's window and in
the process, for an endpoint whose circuit is closed and that has no rate limit, as the engine
last read it. So a worker that dies leaves in its leases only work that was about to start, as
with a claim, and the sweeper's lease recovery settles it. A reservation whose transaction
rolled back is given back when it expires; deliveries the engine cannot take after all (the
endpoint was disabled or its circuit opened meanwhile) go back to ``pending`` untried.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from deliveries.models import Delivery

from .claim import Claimed
from .endpoint_cache import EndpointView


@dataclass(slots=True)
class Handover:
    """Room reserved in the engine: up to ``counts[endpoint]`` deliveries under ``token``."""

    token: uuid.UUID
    lease_until: datetime
    counts: dict[str, int]
    expires: float  # time.monotonic() after which an unused reservation is given back


@dataclass(slots=True)
class Adopted:
    """What a committed fan-out created under ``handover``, for the engine to send."""

    handover: Handover
    claimed: list[Claimed]


class Reservations:
    """The engine's room promised to fan-outs and not yet handed over (thread-safe)."""

    SECONDS = 10.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._total = 0
        self._open: dict[uuid.UUID, Handover] = {}

    @property
    def total(self) -> int:
        return self._total

    def of(self, endpoint_id: str) -> int:
        return self._counts[endpoint_id]

    def reserve(
        self,
        wanted: dict[str, int],
        *,
        free: Callable[[str], int],
        room: int,
        lease_until: datetime,
    ) -> Handover | None:
        """Reserve for each endpoint of ``wanted`` what ``free`` says its window has left
        (less what is reserved already), ``room`` at most in all."""
        with self._lock:
            room -= self._total
            counts: dict[str, int] = {}
            for endpoint_id, count in wanted.items():
                granted = min(count, room, free(endpoint_id) - self._counts[endpoint_id])
                if granted <= 0:
                    continue
                counts[endpoint_id] = granted
                room -= granted
            if not counts:
                return None
            handover = Handover(
                token=uuid.uuid4(),
                lease_until=lease_until,
                counts=counts,
                expires=time.monotonic() + self.SECONDS,
            )
            self._open[handover.token] = handover
            self._counts.update(counts)
            self._total += sum(counts.values())
            return handover

    def settle(self, handover: Handover) -> None:
        """The reservation is used (handed over) or given up: its room is free again."""
        with self._lock:
            if self._open.pop(handover.token, None) is None:
                return
            self._counts.subtract(handover.counts)
            self._total -= sum(handover.counts.values())
            for endpoint_id in handover.counts:
                if self._counts[endpoint_id] <= 0:
                    del self._counts[endpoint_id]

    def expire(self, clock: float) -> None:
        """Give back reservations whose fan-out never handed anything over (rolled back)."""
        for handover in [h for h in list(self._open.values()) if h.expires <= clock]:
            self.settle(handover)


def adopted_endpoints(adopted: Iterable[Adopted]) -> list[str]:
    return list({c.endpoint_id for item in adopted for c in item.claimed})


def adopted_sendable(
    item: Adopted, views: Mapping[str, EndpointView]
) -> tuple[list[Claimed], list[str]]:
    """The deliveries of ``item`` whose endpoint is live with its circuit closed, and the
    endpoints of the rest, which go back to pending here."""
    sendable: list[Claimed] = []
    back: list[Claimed] = []
    for claimed in item.claimed:
        view = views.get(claimed.endpoint_id)
        (sendable if view is not None and not view.circuit_open else back).append(claimed)
    if back:
        deliveries_hand_back(item.handover.token, [c.id for c in back])
    return sendable, [c.endpoint_id for c in back]


def deliveries_hand_back(
    token: uuid.UUID, ids: Iterable[int] | None = None, *, due_at: datetime | None = None
) -> int:
    """Return deliveries claimed under ``token`` (all, or ``ids``) to ``pending``, untried;
    due again at ``due_at`` when given (after a failure, so it is not claimed again at once)."""
    rows = Delivery.objects.filter(claim_token=token, status=Delivery.Status.SENDING)
    if ids is not None:
        rows = rows.filter(id__in=list(ids))
    later = {} if due_at is None else {"next_attempt_at": due_at}
    return rows.update(
        status=Delivery.Status.PENDING, claim_token=None, lease_expires_at=None, **later
    )
