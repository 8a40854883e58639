"""Each endpoint's slots in this process: its window, what is in flight, what is reserved."""

from __future__ import annotations

from collections import Counter

from webhooks_platform.conf import WebhooksSettings

from .gate import Window
from .handover import Reservations


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
