"""Each endpoint's slots in this process: its window, what is in flight, what is reserved."""

from __future__ import annotations

import math
from collections import Counter

from platform_core.conf import WebhooksSettings

from .handover import Reservations


class Window:
    """An endpoint's concurrency limit: in flight ≈ its rate × its latency.

    Starts at ``initial`` and grows by one per answer (slow start) until the first sign of
    congestion, then by one per window's worth of answers. A failure (no response, 5xx, 429)
    halves it, a latency above twice the best seen plus ``SLACK_SECONDS`` takes a tenth off,
    each at most once per round trip. Never below 1 or above ``maximum``.

    The slack is what the sender itself adds: a latency is measured around the whole request in
    a Python event loop that serves every request of the process, so with a hundred in flight
    each one also waits for the loop to serve the others (to a receiver on the same machine that
    answers in under a millisecond: 4 ms at the median, 57 ms at p99 with ~60 in flight). With
    5 ms of slack, that self-made delay read as a congested receiver and held a fast endpoint's
    window near 60; a receiver's own slow-down shows well beyond it, and its failures (5xx,
    429, timeouts) still halve the window at once.
    """

    SLACK_SECONDS = 0.05
    MIN_RTT_DRIFT = 0.001  # the best latency seen creeps up, so a changed path is relearned

    __slots__ = ("limit", "maximum", "min_rtt", "slow_start", "last_cut")

    def __init__(self, *, initial: int, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = float(min(max(1, initial), self.maximum))
        self.min_rtt: float | None = None
        self.slow_start = True
        self.last_cut = -math.inf

    @property
    def size(self) -> int:
        return max(1, int(self.limit))

    def observe(self, *, seconds: float, status: int, now: float) -> None:
        if self.min_rtt is None or seconds < self.min_rtt:
            self.min_rtt = seconds
        else:
            self.min_rtt += self.MIN_RTT_DRIFT * (seconds - self.min_rtt)
        failed = status == 0 or status >= 500 or status == 429
        congested = seconds > 2 * self.min_rtt + self.SLACK_SECONDS
        if failed or congested:
            if now - self.last_cut >= max(seconds, 0.01):
                self.limit = max(1.0, self.limit * (0.5 if failed else 0.9))
                self.slow_start = False
                self.last_cut = now
            return
        step = 1.0 if self.slow_start else 1.0 / self.limit
        self.limit = min(float(self.maximum), self.limit + step)


class Slots:
    """How many requests each endpoint may have in flight from this process, and has.

    An endpoint's ``Window`` (created when it is first claimed for), its requests in flight,
    and the room reserved for this process's fan-out (``handover``). Written by the engine's
    thread; the fan-out's thread reads single values (``free_known``) and reserves under the
    reservations' own lock.
    """

    def __init__(self) -> None:
        self._windows: dict[str, Window] = {}
        self._in_flight: Counter[str] = Counter()
        self.reservations = Reservations()

    def window(self, endpoint_id: str, ws: WebhooksSettings) -> Window:
        window = self._windows.get(endpoint_id)
        if window is None:
            window = self._windows[endpoint_id] = Window(
                initial=ws.endpoint_concurrency, maximum=ws.endpoint_concurrency_max
            )
        return window

    def in_flight(self, endpoint_id: str) -> int:
        return self._in_flight[endpoint_id]

    def busy(self, endpoint_id: str) -> int:
        """Slots in use: in flight, or reserved for a fan-out."""
        return self._in_flight[endpoint_id] + self.reservations.of(endpoint_id)

    def free(self, endpoint_id: str, ws: WebhooksSettings) -> int:
        return self.window(endpoint_id, ws).size - self.busy(endpoint_id)

    def free_known(self, endpoint_id: str) -> int:
        """Free slots of an endpoint this process has sent to (0 if none yet), not counting
        reservations (``Reservations.reserve`` does)."""
        window = self._windows.get(endpoint_id)
        return 0 if window is None else window.size - self._in_flight[endpoint_id]

    def has_room(self, endpoint_id: str, ws: WebhooksSettings) -> bool:
        """Room enough to be worth a claim: any when idle, else a quarter of the window."""
        size = self.window(endpoint_id, ws).size
        busy = self.busy(endpoint_id)
        free = size - busy
        return free > 0 and (not busy or free >= max(1, size // 4))

    def room(self, ws: WebhooksSettings, flying: int) -> int:
        """Requests the process may still start: its limit, less in flight and reserved."""
        return ws.sender_max_pending - flying - self.reservations.total

    def started(self, endpoint_id: str) -> None:
        self._in_flight[endpoint_id] += 1

    def finished(
        self, endpoint_id: str, *, seconds: float, status: int, clock: float, ws: WebhooksSettings
    ) -> None:
        self.window(endpoint_id, ws).observe(seconds=seconds, status=status, now=clock)
        self._in_flight[endpoint_id] -= 1
        if self._in_flight[endpoint_id] <= 0:
            del self._in_flight[endpoint_id]
