"""Endpoints' transformations, run beside the engine so that no script holds anyone else up.

A claimed delivery whose endpoint has an enabled transformation, and that was never shaped (or
whose last run failed), is handed to ``TransformRunner`` instead of being sent at once. The
runner's threads (one per sandbox process, ``WEBHOOKS_TRANSFORM_PROCESSES``) take work round
robin across endpoints and run at most one script of an endpoint at a time, so an endpoint whose
script spins to its limit occupies one sandbox process and never the engine's thread, the
sender's event loop or another endpoint's turn. Each run's outcome is stored on the delivery
(``Delivery.transformed``) before anything is sent: retries and replays send those bytes again
and never run the script a second time. Then the request is signed and launched on the sender
like any other, or the failed (or cancelled) try goes to the engine's inbox to be recorded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import connection

from deliveries import transport
from deliveries.destinations import sender as destination_sender
from deliveries.models import Delivery
from endpoints import transformation
from platform_core.conf import WebhooksSettings

from .claim import Claimed
from .endpoint_cache import EndpointView
from .flight import Flight
from .send import event_type_name, signed_request, transport_options

logger = logging.getLogger(__name__)


def needs_transform(item: Claimed, view: EndpointView) -> bool:
    """Whether the script must run for this try: the endpoint has one enabled and the delivery
    holds no shaped request (never tried, or its last run failed). A delivery first sent before
    the transformation was enabled keeps being sent as it was."""
    if view.transformation is None:
        return False
    if item.transformed is None:
        return item.attempt_count == 0
    return "body" not in item.transformed and not item.transformed.get("cancelled")


class TransformRunner:
    """Runs tasks, one endpoint's at a time each, round robin across endpoints."""

    def __init__(self, size: int) -> None:
        self._size = max(1, size)
        self._queues: dict[str, deque[Callable[[], None]]] = {}
        self._ready: deque[str] = deque()
        self._running: set[str] = set()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []

    def submit(self, endpoint_id: str, task: Callable[[], None]) -> None:
        with self._cond:
            waiting = self._queues.setdefault(endpoint_id, deque())
            if not waiting and endpoint_id not in self._running:
                self._ready.append(endpoint_id)
            waiting.append(task)
            while len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._work, name=f"webhooks-transform-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._cond.notify()

    def _work(self) -> None:
        while True:
            with self._cond:
                if not self._ready:
                    # Going idle: give the database connection back (a pooled one returns to
                    # the pool) rather than hold it while nothing runs.
                    self._cond.release()
                    try:
                        connection.close()
                    finally:
                        self._cond.acquire()
                while not self._ready:
                    self._cond.wait()
                endpoint_id = self._ready.popleft()
                task = self._queues[endpoint_id].popleft()
                self._running.add(endpoint_id)
            try:
                task()
            except Exception:  # noqa: BLE001  the task reports its own failures; never die
                logger.exception("transformation task failed")
            finally:
                with self._cond:
                    self._running.discard(endpoint_id)
                    if self._queues[endpoint_id]:
                        self._ready.append(endpoint_id)
                        self._cond.notify()
                    else:
                        del self._queues[endpoint_id]


_runner: TransformRunner | None = None
_runner_lock = threading.Lock()


def transform_runner(size: int) -> TransformRunner:
    """This process's runner (its threads outlive an engine, as the sandbox processes do)."""
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = TransformRunner(size)
        return _runner


def shape_and_send(
    item: Claimed,
    view: EndpointView,
    flight: Flight,
    *,
    ws: WebhooksSettings,
    timestamp: int,
    inbox: queue.Queue[Any],
) -> None:
    """Run the endpoint's script on the delivery, store what it made, then send or report."""
    assert view.transformation is not None  # noqa: S101  (needs_transform said so)
    version, code = view.transformation
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    flight.transformation_version = version

    def fail(error: str) -> None:
        inbox.put(
            transport.AttemptResult(
                key=item.id,
                started_at=started,
                duration_ms=int((time.perf_counter() - t0) * 1000),
                error=error,
            )
        )

    try:
        answer = transformation.sandbox(ws.transform_processes).run(
            key=f"{item.endpoint_id}:{version}",
            code=code,
            webhook=transformation.webhook_input(
                url=view.url, body=item.body, event_type=event_type_name(item.event_type_id)
            ),
            limits=transformation.Limits(
                time_ms=ws.transform_time_limit_ms, memory_mb=ws.transform_memory_limit_mb
            ),
        )
        shaped = transformation.shaped(
            answer, require_https=ws.require_https, max_body_bytes=ws.max_payload_bytes
        )
    except transformation.TransformationError as exc:
        error = f"transformation v{version} failed: {exc}"
        _store(item, {"version": version, "error": str(exc)[:400]})
        fail(error)
        return
    except Exception as exc:  # noqa: BLE001  a sandbox that cannot start fails this try only
        logger.exception("transformation of delivery %s could not run", item.id)
        fail(f"transformation v{version} could not run: {exc.__class__.__name__}")
        return
    if shaped.cancelled:
        reason = f"cancelled by transformation v{version}: nothing sent"
        _store(item, {"version": version, "cancelled": True})
        flight.cancelled = reason
        fail(reason)
        return
    record = {"version": version, "method": shaped.method, "url": shaped.url, "body": shaped.body}
    if not _store(item, record):
        fail("transformation result could not be stored (or the claim was lost); not sent")
        return
    item.transformed = record
    flight, request = signed_request(item, view, timestamp=timestamp, flight=flight)
    if isinstance(request, transport.AttemptResult):
        inbox.put(request)
    elif isinstance(request, transport.OutboundRequest):
        transport.sender().launch([request], transport_options(ws), inbox)
    else:  # a destination (queue, stream, bucket): the transformed body, its own sender
        destination_sender.sender().launch([request], transport_options(ws), inbox)


def _store(item: Claimed, record: dict[str, Any]) -> bool:
    """Write the run's outcome on the delivery, under the claim this try holds; False when it
    could not be written or the claim is gone (handed back meanwhile): then nothing is sent."""
    for attempt in (1, 2):
        try:
            return bool(
                Delivery.objects.filter(pk=item.id, claim_token=item.claim_token).update(
                    transformed=record
                )
            )
        except Exception:  # noqa: BLE001  a lost connection: once more on a new one
            logger.exception("could not store the transformation of delivery %s", item.id)
            connection.close()
            if attempt == 2:
                return False
    return False
