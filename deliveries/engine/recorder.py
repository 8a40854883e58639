"""The engine's second thread: it writes finished tries in bulks, on its own connection, so
claiming never waits for the previous bulk's writes."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from django.db import connection

from deliveries import transport

from .flight import Flight

logger = logging.getLogger(__name__)


class RecorderThread:
    """Writes what ``put`` hands it with ``write``, everything waiting at once (``MAX_BULK``
    results at most per call). While results stream in (``STREAM`` or more at once), it first
    waits up to ``linger`` seconds for a bulk of ``MIN_BULK``; fewer are written at once."""

    MAX_BULK = 1000
    # A bulk smaller than this waits up to ``linger`` seconds for more: each transaction costs
    # its statements whatever its size (scenario 6: PostgreSQL's CPU per delivery 0.165 ms with
    # 20 ms of linger, 0.194 ms without, bulks of 20-40 results).
    MIN_BULK = 64
    LINGER = 0.02
    STREAM = 8

    def __init__(
        self,
        write: Callable[[list[tuple[Flight, transport.AttemptResult]]], None],
        name: str = "webhooks-recorder",
        linger: float = 0.0,
    ):
        self._write = write
        self._linger = linger
        # None: close (``close``).
        self._queue: queue.Queue[list[tuple[Flight, transport.AttemptResult]] | None] = (
            queue.Queue()
        )
        self._rows = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def backlog(self) -> int:
        """Finished tries not written yet."""
        return self._rows

    def put(self, finished: list[tuple[Flight, transport.AttemptResult]]) -> None:
        with self._lock:
            self._rows += len(finished)
        self._queue.put(finished)

    def join(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._rows and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._rows

    def close(self, timeout: float) -> bool:
        """End the thread once what it holds is written, closing its database connection."""
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            bulk = self._queue.get()
            if bulk is None:
                connection.close()
                return
            bulk, closing = self._more(bulk, until=None)
            if not closing and self.STREAM <= len(bulk) < self.MIN_BULK and self._linger:
                bulk, _ = self._more(bulk, until=time.monotonic() + self._linger)
            try:
                self._write(bulk)
            except Exception:  # noqa: BLE001  logged; the sweeper settles what was not written
                logger.exception("recorder lost %d results", len(bulk))
            with self._lock:
                self._rows -= len(bulk)

    def _more(
        self, bulk: list[tuple[Flight, transport.AttemptResult]], *, until: float | None
    ) -> tuple[list[tuple[Flight, transport.AttemptResult]], bool]:
        """``bulk`` with what is queued (waiting until ``until`` for a bulk of ``MIN_BULK``, or
        nothing more); True: the queue is closing after it."""
        while len(bulk) < (self.MAX_BULK if until is None else self.MIN_BULK):
            wait = 0.0 if until is None else until - time.monotonic()
            try:
                more = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._queue.put(None)  # close after this bulk
                return bulk, True
            bulk = bulk + more
        return bulk, False


class Recorders:
    """The engine's two recorder threads: one for ordered endpoints' hand-overs, whose next
    delivery waits for their record (never queued behind a bulk of a thousand other results),
    one for the rest."""

    def __init__(self, write: Callable[[list[tuple[Flight, transport.AttemptResult]]], None]):
        # The plain results wait for a fuller bulk; an ordered endpoint's next delivery waits
        # for its record, so those are written at once.
        self._plain = RecorderThread(write, linger=RecorderThread.LINGER)
        self._ordered = RecorderThread(write, name="webhooks-recorder-ordered")

    @property
    def backlog(self) -> int:
        return self._plain.backlog

    def put(self, finished: list[tuple[Flight, transport.AttemptResult]]) -> None:
        ordered = [(f, r) for f, r in finished if f.handover is not None]
        rest = [(f, r) for f, r in finished if f.handover is None]
        if ordered:
            self._ordered.put(ordered)
        if rest:
            self._plain.put(rest)

    def join(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(r.join(deadline - time.monotonic()) for r in (self._ordered, self._plain))

    def close(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for recorder in (self._ordered, self._plain):
            recorder.close(max(0.1, deadline - time.monotonic()))
