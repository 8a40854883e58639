"""The engine's loop: one thread per worker process that claims only what it can start.

Each turn it records every result that came back (one transaction), then, for each endpoint with
due work and room in its window, claims up to that room (one statement for all of them), signs
and launches the requests on the process's sender. Nothing claimed waits behind anything else,
so a try is used only by a request that started, and a worker that dies leaves in its leases
only what was actually in flight.

Work is found three ways: a wake-up from this process's fan-out (immediate), a ``deliver``
message from another process (a replay, the dashboard: immediate), and a discovery query every
``DISCOVER_SECONDS`` (what another worker's fan-out created, retries coming due). The database
is the queue; the broker only carries fan-outs and wake-ups.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from deliveries import transport
from platform_core.conf import WebhooksSettings, webhooks_settings

from . import register_local
from .claim import Claimed, discover
from .effects import Effects
from .endpoint_cache import EndpointCache, EndpointView
from .flight import Flight, RecordReport
from .handover import Adopted, Handover, adopted_endpoints, adopted_sendable, deliveries_hand_back
from .launch import flights_launch
from .ordered import ordered_reserve_next
from .record import results_record_retrying
from .recorder import Recorders
from .rounds import claim_round, room_worth_claiming
from .slots import Slots

logger = logging.getLogger(__name__)

_WAKE = object()


class Engine:
    DISCOVER_SECONDS = 1.0
    ERROR_PAUSE_MAX = 5.0

    def __init__(self, *, effects: Effects) -> None:
        self._effects = effects
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._woken: set[str] = set()
        self._woken_lock = threading.Lock()
        self._due: dict[str, datetime] = {}  # endpoint -> when its next delivery is due
        self._held: dict[str, datetime] = {}  # endpoint -> circuit or rate limit holds it until
        self._flying: dict[int, Flight] = {}
        self._slots = Slots()
        self._cache = EndpointCache()
        self._adopted: list[Adopted] = []
        self._last_discovery = -1e9
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._recorder: Recorders | None = None  # None: record in the turning thread (tests)
        self._ws: WebhooksSettings | None = None
        self._ws_read_at = -1e9
        self._totals_lock = threading.Lock()
        self.totals = RecordReport()

    # --- control (any thread) ----------------------------------------------------------------
    def start(self) -> None:
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            if self._recorder is None:
                self._recorder = Recorders(lambda done: self._write(done, self._settings()))
            self._thread = threading.Thread(target=self._run, name="webhooks-engine", daemon=True)
            self._thread.start()
        register_local(self)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self, endpoint_ids: Iterable[str]) -> None:
        """Endpoints that have new due work (a fan-out, a replay): claim for them now."""
        with self._woken_lock:
            self._woken.update(endpoint_ids)
        self._inbox.put(_WAKE)

    def reserve(self, wanted: dict[str, int], *, now: datetime) -> Handover | None:
        """Room for new deliveries of ``wanted``'s endpoints that this process's fan-out may
        create already claimed and hand over with ``adopt`` (see ``handover``); None: none."""
        if self._stopping.is_set() or not self.running:
            return None
        ws = self._settings()
        return self._slots.reservations.reserve(
            wanted,
            free=self._free_to_adopt,
            room=ws.sender_max_pending - len(self._flying),
            lease_until=now + timedelta(seconds=ws.lease_seconds),
        )

    def adopt(self, adopted: Adopted) -> None:
        """Deliveries created under a reservation, committed: send them on the next turn."""
        self._inbox.put(adopted)

    def _free_to_adopt(self, endpoint_id: str) -> int:
        """An endpoint's free window, if nothing of it is due here (what waits goes first) and
        the engine would claim for it without asking the database (circuit closed, no rate
        limit, not held); read from the fan-out's thread, so only single reads of the engine's
        state."""
        due = self._due.get(endpoint_id)
        if endpoint_id in self._held or (due is not None and due <= timezone.now()):
            return 0  # older deliveries are due there: they go first, claimed in their order
        view = self._cache.peek(endpoint_id)
        if view is None or view.circuit_open or view.rate_limit:
            return 0
        return self._slots.free_known(endpoint_id)

    def stop(self, timeout: float) -> bool:
        """Claim nothing more; wait for what is in flight to finish and be recorded."""
        self._stopping.set()
        self._inbox.put(_WAKE)
        if self._thread is None:
            self._hand_back_unsent()
            return True
        deadline = time.monotonic() + timeout
        self._thread.join(timeout)
        recorded = self._recorder is None or self._recorder.join(deadline - time.monotonic())
        if recorded and not self._thread.is_alive():
            self._hand_back_unsent()
        if recorded and self._recorder is not None and not self._thread.is_alive():
            self._recorder.close(max(0.1, deadline - time.monotonic()))
            self._recorder = None
        return recorded and not self._thread.is_alive()

    def _hand_back_unsent(self) -> None:
        """Once the loop is over: what was handed over to it and will not be sent now (an
        ordered endpoint's next delivery, recorded as the loop ended) is pending again."""
        self._adopted.extend(i for i in self._drain_inbox() if isinstance(i, Adopted))
        for item in self._adopted:
            self._slots.reservations.settle(item.handover)
            deliveries_hand_back(item.handover.token)
        self._adopted = []

    # --- the loop (the engine thread, or a test's thread through run_until_idle) ----------
    def _run(self) -> None:
        pause = 0.1
        while not (self._stopping.is_set() and not self._flying):
            try:
                self.turn(wait=self._wait_seconds())
                pause = 0.1
            except Exception:  # noqa: BLE001  the loop must outlive a lost database connection
                logger.exception("delivery engine turn failed; retrying in %.1fs", pause)
                connection.close()
                time.sleep(pause)
                pause = min(pause * 2, self.ERROR_PAUSE_MAX)
        self._collect(0)
        if self._adopted:  # handed over while stopping: back to pending, untried
            self._launch_adopted(timezone.now(), self._settings())
        connection.close()

    def run_until_idle(self, timeout: float = 30) -> RecordReport:
        """Turn in the calling thread until nothing is due or in flight (tests, commands)."""
        deadline = time.monotonic() + timeout
        self._last_discovery = -1e9
        while time.monotonic() < deadline:
            self.turn(wait=0.05 if self._flying else 0)
            if not self._flying and not self._due_now(timezone.now()):
                self._last_discovery = -1e9
                self.turn(wait=0)
                if not self._flying and not self._due_now(timezone.now()):
                    break
        return self.totals

    def _wait_seconds(self) -> float:
        """How long the next turn may wait for a result or a wake-up before it must look again.

        Only endpoints it could claim for now count: one whose window is full is served by
        the result that frees a slot, which ends the wait anyway.
        """
        until_discovery = self._last_discovery + self.DISCOVER_SECONDS - time.monotonic()
        if self._recorder is not None and self._recorder.backlog >= self.MAX_UNRECORDED:
            return min(0.01, max(0.0, until_discovery))
        ws = self._settings()
        if not self._room_worth_claiming(ws):
            return max(0.0, min(until_discovery, self.DISCOVER_SECONDS))
        now = timezone.now()
        open_ = [e for e in self._due if e not in self._held and self._slots.has_room(e, ws)]
        soonest = min((self._due[e] for e in open_), default=None)
        until_due = (soonest - now).total_seconds() if soonest else until_discovery
        return max(0.0, min(until_discovery, until_due, self.DISCOVER_SECONDS))

    SETTINGS_SECONDS = 1.0
    MAX_UNRECORDED = 5000  # finished tries waiting for the recorder before claiming pauses

    def _settings(self) -> WebhooksSettings:
        """The platform settings, read again once a second (reading them costs more than a turn)."""
        if self._ws is None or time.monotonic() - self._ws_read_at > self.SETTINGS_SECONDS:
            self._ws = webhooks_settings()
            self._ws_read_at = time.monotonic()
        return self._ws

    def turn(self, *, wait: float) -> None:
        ws = self._settings()
        finished = self._collect(wait)
        if finished:
            self._finish(finished, ws)
        now = timezone.now()
        self._take_wakes(now)
        self._slots.reservations.expire(time.monotonic())
        if self._adopted:
            self._launch_adopted(now, ws)
        if time.monotonic() - self._last_discovery >= self.DISCOVER_SECONDS:
            self._discover(now)
        backlog = self._recorder.backlog if self._recorder is not None else 0
        if not self._stopping.is_set() and backlog < self.MAX_UNRECORDED:
            self._claim_round(now, ws)

    def _drain_inbox(self) -> list[Any]:
        items: list[Any] = []
        while True:
            try:
                items.append(self._inbox.get_nowait())
            except queue.Empty:
                return items

    def _collect(self, wait: float) -> list[transport.AttemptResult]:
        items: list[Any] = []
        try:
            items.append(self._inbox.get(timeout=wait) if wait > 0 else self._inbox.get_nowait())
        except queue.Empty:
            return []
        items += self._drain_inbox()
        self._adopted.extend(i for i in items if isinstance(i, Adopted))
        return [i for i in items if i is not _WAKE and not isinstance(i, Adopted)]

    def _take_wakes(self, now: datetime) -> None:
        with self._woken_lock:
            woken, self._woken = self._woken, set()
        for endpoint_id in woken:
            self._due[endpoint_id] = now
            # A wake-up may carry a person's manual try: let the gate look again.
            self._held.pop(endpoint_id, None)

    def _discover(self, now: datetime) -> None:
        self._last_discovery = time.monotonic()
        found = discover()
        for endpoint_id, due in found.items():
            self._due[endpoint_id] = due or now
        for endpoint_id in [e for e in self._due if e not in found]:
            self._due.pop(endpoint_id, None)
        for endpoint_id, until in list(self._held.items()):
            if until <= now or endpoint_id not in found:
                self._held.pop(endpoint_id, None)

    def _due_now(self, now: datetime) -> list[str]:
        return [e for e, due in self._due.items() if due <= now and e not in self._held]

    # --- claiming ----------------------------------------------------------------------------
    def _room_worth_claiming(self, ws: WebhooksSettings) -> bool:
        return room_worth_claiming(self._slots.room(ws, len(self._flying)), len(self._flying), ws)

    def _claim_round(self, now: datetime, ws: WebhooksSettings) -> None:
        claimed = claim_round(
            self._due_now(now),
            flying=len(self._flying),
            slots=self._slots,
            cache=self._cache,
            due=self._due,
            held=self._held,
            now=now,
            ws=ws,
        )
        if claimed is not None:
            self._launch(claimed.claimed, claimed.views, claimed.token, ws, probes=claimed.probes)

    # --- sending -------------------------------------------------------------------------------
    def _launch_adopted(self, now: datetime, ws: WebhooksSettings) -> None:
        """Send what fan-outs handed over; what cannot go now (the endpoint was disabled or
        its circuit opened since, or the engine is stopping) goes back to pending, untried."""
        adopted, self._adopted = self._adopted, []
        for item in adopted:
            self._slots.reservations.settle(item.handover)
        if self._stopping.is_set():
            for item in adopted:
                deliveries_hand_back(item.handover.token)
            return
        views = self._cache.load(adopted_endpoints(adopted), now, ws)
        for item in adopted:
            sendable, back = adopted_sendable(item, views)
            self._due.update(dict.fromkeys(back, now))
            if sendable:
                self._launch(sendable, views, item.handover.token, ws)

    def _launch(
        self,
        claimed: list[Claimed],
        views: dict[str, EndpointView],
        token: uuid.UUID,
        ws: WebhooksSettings,
        probes: dict[str, datetime] | None = None,
    ) -> None:
        flights_launch(
            claimed,
            views,
            token,
            ws,
            flying=self._flying,
            slots=self._slots,
            inbox=self._inbox,
            probes=probes,
        )

    # --- recording -----------------------------------------------------------------------------
    def _finish(self, results: list[transport.AttemptResult], ws: WebhooksSettings) -> None:
        """Free the window slots of finished requests now; record them here (``inline``) or on
        the recorder thread, so claiming never waits for the previous bulk's writes."""
        finished: list[tuple[Flight, transport.AttemptResult]] = []
        clock = time.monotonic()
        for result in results:
            flight = self._flying.pop(result.key, None)
            if flight is None:
                continue
            finished.append((flight, result))
            endpoint_id = flight.claimed.endpoint_id
            self._slots.finished(
                endpoint_id,
                seconds=result.duration_ms / 1000,
                status=result.status,
                clock=clock,
                ws=ws,
            )
            # Not "look again": an endpoint whose claim took all it asked for is still due, and
            # one that took less has nothing more until a wake-up or discovery says so (a
            # claim per finished bulk that finds nothing cost a statement each, a third of
            # scenario 1's claims).
        if not finished:
            return
        self._reserve_next_ordered(finished, ws)
        if self._recorder is None:
            self._write(finished, ws)
        else:
            self._recorder.put(finished)

    def _reserve_next_ordered(
        self, finished: list[tuple[Flight, transport.AttemptResult]], ws: WebhooksSettings
    ) -> None:
        """Room for the next delivery of each ordered endpoint whose try just succeeded: the
        recorder releases it already claimed under this reservation (``Flight.handover``)."""
        if self._stopping.is_set():
            return
        ordered_reserve_next(
            finished,
            view=self._cache.peek,
            reservations=self._slots.reservations,
            free=self._slots.free_known,
            room=ws.sender_max_pending - len(self._flying),
            lease_until=timezone.now() + timedelta(seconds=ws.lease_seconds),
        )

    def _write(
        self, finished: list[tuple[Flight, transport.AttemptResult]], ws: WebhooksSettings
    ) -> None:
        report = results_record_retrying(finished, ws=ws, effects=self._effects)
        for item in report.adopted if report is not None else ():
            if self._stopping.is_set():
                deliveries_hand_back(item.handover.token)  # pending again, for any worker
            else:
                self.adopt(item)
        used = {item.handover.token for item in report.adopted} if report is not None else set()
        for flight, _ in finished:
            if flight.handover is not None and flight.handover.token not in used:
                self._slots.reservations.settle(flight.handover)  # nothing was released
        if report is None:
            return
        self._cache.forget_views(report.health_changed)
        if report.recovered:
            # A closed circuit releases what waited: claim for it now, not after a hold.
            self.wake(report.recovered)
        with self._totals_lock:
            for name in ("succeeded", "retrying", "failed"):
                setattr(self.totals, name, getattr(self.totals, name) + getattr(report, name))
