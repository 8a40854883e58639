"""Recording finished tries: one transaction per bulk of results, whatever their endpoints.

Each result becomes one ``Attempt`` row (one multi-row INSERT for the bulk) and its delivery's
next state (one ``UPDATE … FROM (VALUES …)`` on PostgreSQL), written only where the delivery
still holds the claim the try was made under. Endpoint health follows in the same transaction.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from deliveries import policy, transport
from deliveries.models import Attempt, Delivery
from deliveries.ordering import ordered_release_rows
from deliveries.schedules import retry_schedule
from platform_core import metrics
from platform_core.conf import WebhooksSettings

from .claim import Claimed, claimed_released
from .effects import Effects
from .endpoint_cache import EndpointView
from .handover import Adopted, Handover
from .health import EndpointTally, endpoint_health
from .state import ERROR_MAX, delivery_next_state, states_write, stored_body

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Flight:
    """One claimed delivery on its way: what was sent, and what recording needs besides."""

    claimed: Claimed
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    had_failures: bool = False
    endpoint_schedule: tuple[float, ...] | None = None  # the endpoint's own retry schedule
    ordered: bool = False  # its endpoint sends one at a time: a finish releases the next
    probe_at: datetime | None = None  # the open circuit's probe, taken then (gate.probe_take)
    # Room the engine reserved for its ordered endpoint's next delivery: recording this try
    # releases that one already claimed under it, to be sent at once (``ordered_release``).
    handover: Handover | None = None
    method: str = "POST"
    transformation_version: int | None = None  # the version that shaped the request
    # Its transformation cancelled it (the reason): nothing was sent, the delivery ends
    # cancelled; neither a success nor a failure of the endpoint.
    cancelled: str = ""


@dataclass
class RecordReport:
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    health_changed: set[str] = field(default_factory=set)  # endpoints whose health was written
    recovered: set[str] = field(default_factory=set)  # succeeded after failures or a circuit
    # Ordered endpoints' next deliveries, released already claimed: for the engine to send.
    adopted: list[Adopted] = field(default_factory=list)


def results_record(
    finished: list[tuple[Flight, transport.AttemptResult]],
    *,
    ws: WebhooksSettings,
    effects: Effects,
) -> RecordReport:
    """Write the attempts and next states of ``finished`` in one transaction."""
    report = RecordReport()
    if not finished:
        return report
    now = timezone.now()
    attempts: list[tuple[Any, ...]] = []
    rows: list[tuple[int, Any, dict[str, Any]]] = []
    decisions: list[tuple[Flight, transport.AttemptResult, policy.Decision]] = []
    tally = EndpointTally()
    cancelled: list[Flight] = []
    for flight, result in finished:
        claimed = flight.claimed
        if flight.cancelled:
            cancelled.append(flight)
            attempts.append(_cancelled_attempt(flight, result))
            rows.append((claimed.id, claimed.claim_token, _cancelled_state(claimed, result, now)))
            continue
        decision, fields = delivery_next_state(
            claimed,
            status=result.status,
            error=result.error,
            started_at=result.started_at,
            now=now,
            ws=ws,
            retry_after=policy.parse_retry_after(result.retry_after, now=now),
            schedule=retry_schedule(flight.endpoint_schedule, claimed.event_type_id, ws),
        )
        body, encoding = stored_body(result.response_body)
        attempts.append(
            (
                claimed.id,
                claimed.endpoint_id,
                fields["attempt_count"],
                Attempt.Trigger.MANUAL if claimed.manual_requested else Attempt.Trigger.SCHEDULED,
                result.started_at,
                result.duration_ms,
                flight.url,
                flight.headers,
                result.status,
                result.response_headers,
                body,
                encoding,
                result.error[:ERROR_MAX],
                flight.method,
                flight.transformation_version,
            )
        )
        rows.append((claimed.id, claimed.claim_token, fields))
        decisions.append((flight, result, decision))
        if decision.outcome is policy.Outcome.SUCCEEDED:
            tally.succeeded.add(claimed.endpoint_id)
            if flight.had_failures:
                tally.recovered.add(claimed.endpoint_id)
        else:
            tally.failures[claimed.endpoint_id] += 1
            if flight.probe_at is not None:
                tally.probes_failed[claimed.endpoint_id] = flight.probe_at
        if decision.outcome is policy.Outcome.GONE:
            tally.gone.add(claimed.endpoint_id)
    with transaction.atomic():
        kept = states_write(rows)
        if len(kept) < len(rows):
            deleted = _deleted({pk for pk, _, _ in rows} - kept)
            if deleted:
                attempts = [a for a in attempts if a[0] not in deleted]
                decisions = [d for d in decisions if d[0].claimed.id not in deleted]
        attempts_insert(attempts)
        exhausted = [
            flight.claimed.id
            for flight, _, decision in decisions
            if flight.claimed.id in kept and decision.outcome is policy.Outcome.FAILED
        ]
        for delivery_id in exhausted:
            effects.delivery_exhausted(delivery_id)
        endpoint_health(tally, now=now, ws=ws, effects=effects)
        for flight in cancelled:
            if flight.claimed.id in kept:
                Delivery.objects.filter(pk=flight.claimed.id).update(
                    cancel_reason=flight.cancelled[:200]
                )
        finished_ordered = {
            flight.claimed.endpoint_id: flight.handover
            for flight, _, decision in decisions
            if flight.ordered
            and flight.claimed.id in kept
            and decision.outcome is not policy.Outcome.RETRY
        }
        for flight in cancelled:  # a cancelled head lets its next go, by the broker's wake-up
            if flight.ordered and flight.claimed.id in kept:
                finished_ordered.setdefault(flight.claimed.endpoint_id, None)
        released = ordered_release_rows(
            finished_ordered,
            now=now,
            claims={
                endpoint_id: (handover.token, handover.lease_until)
                for endpoint_id, handover in finished_ordered.items()
                if handover is not None
            },
        )
        adopted: dict[uuid.UUID, Adopted] = {}
        for row in (r for r in released if r[-1]):
            handover = finished_ordered[row[1]]
            assert handover is not None  # noqa: S101  released claimed only under a handover
            item = adopted.setdefault(handover.token, Adopted(handover, []))
            item.claimed.append(claimed_released(row, handover.token))
        report.adopted = list(adopted.values())
        if pending := [row[0] for row in released if not row[-1]]:
            effects.deliveries_dispatch(pending)
    report.health_changed = tally.recovered | set(tally.failures) | tally.gone
    report.recovered = set(tally.recovered)
    for flight, result, decision in decisions:
        _count(report, decision.outcome)
        attempt_observed(
            flight.claimed,
            result,
            decision.outcome,
            kept=flight.claimed.id in kept,
            event_created_at=flight.claimed.event_created_at,
            now=now,
        )
    logger.info(
        "attempts recorded",
        extra={
            "attempts": len(finished),
            "succeeded": report.succeeded,
            "retrying": report.retrying,
            "failed": report.failed,
        },
    )
    return report


def _deleted(unwritten: set[int]) -> set[int]:
    """Of deliveries whose state was not written, those deleted while their request was on the
    wire (their tenant was deleted): their attempts have nothing to belong to, and must not fail
    the batch they share with others. The rest, whose lease was taken back, keep their attempt;
    they are locked until the attempt is in, so that a delete waits for it."""
    if not unwritten:
        return set()
    alive = set(
        Delivery.objects.select_for_update(no_key=True)
        .filter(pk__in=unwritten)
        .values_list("pk", flat=True)
    )
    deleted = unwritten - alive
    if deleted:
        logger.warning(
            "attempts of deleted deliveries dropped", extra={"delivery_ids": sorted(deleted)}
        )
    return deleted


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


def _cancelled_attempt(flight: Flight, result: transport.AttemptResult) -> tuple[Any, ...]:
    """The attempt row of a delivery its transformation cancelled: nothing sent, the reason."""
    claimed = flight.claimed
    return (
        claimed.id,
        claimed.endpoint_id,
        claimed.attempt_count + 1,
        Attempt.Trigger.MANUAL if claimed.manual_requested else Attempt.Trigger.SCHEDULED,
        result.started_at,
        result.duration_ms,
        flight.url,
        {},
        0,
        {},
        "",
        Attempt.BodyEncoding.UTF8,
        flight.cancelled[:ERROR_MAX],
        flight.method,
        flight.transformation_version,
    )


def _cancelled_state(claimed: Claimed, result: transport.AttemptResult, now: datetime) -> dict:
    return {
        "status": Delivery.Status.CANCELLED,
        "attempt_count": claimed.attempt_count + 1,
        "scheduled_attempts": claimed.scheduled_attempts,
        "manual_requested": False,
        "claim_token": None,
        "lease_expires_at": None,
        "last_attempt_at": result.started_at,
        "last_status_code": 0,
        "last_error": result.error[:ERROR_MAX],
        "next_attempt_at": None,
        "finished_at": now,
    }


RECORD_TRIES = 5


def results_record_retrying(
    finished: list[tuple[Flight, transport.AttemptResult]],
    *,
    ws: WebhooksSettings,
    effects: Effects,
) -> RecordReport | None:
    """Record, retrying a lost connection; None if the database stays away, in which case the
    deliveries keep their claim and the sweeper's lease recovery settles them (a duplicate,
    never a loss)."""
    for attempt in range(1, RECORD_TRIES + 1):
        try:
            return results_record(finished, ws=ws, effects=effects)
        except Exception:  # noqa: BLE001
            logger.exception(
                "could not record %d results (try %d of %d)", len(finished), attempt, RECORD_TRIES
            )
            connection.close()
            if attempt < RECORD_TRIES:
                time.sleep(min(2**attempt * 0.1, 5))
    return None


# The columns of an attempt row, in the order ``results_record`` builds them.
_ATTEMPT_COLUMNS = (
    "delivery_id",
    "endpoint_id",
    "number",
    "trigger",
    "started_at",
    "duration_ms",
    "request_url",
    "request_headers",
    "response_status",
    "response_headers",
    "response_body",
    "response_body_encoding",
    "error",
    "request_method",
    "transformation_version",
)
_JSON_COLUMNS = frozenset({7, 9})


def attempts_insert(rows: list[tuple[Any, ...]]) -> None:
    """Insert attempt rows: ``COPY`` on PostgreSQL (no SQL text to build, no model objects),
    one multi-row INSERT elsewhere."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Attempt._meta.db_table)
        with connection.cursor() as cursor:
            sql = f"COPY {table} ({', '.join(_ATTEMPT_COLUMNS)}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(
                        [json.dumps(v) if i in _JSON_COLUMNS else v for i, v in enumerate(row)]
                    )
        return
    Attempt.objects.bulk_create(
        [Attempt(**dict(zip(_ATTEMPT_COLUMNS, row, strict=True))) for row in rows]
    )


def _count(report: RecordReport, outcome: policy.Outcome) -> None:
    if outcome is policy.Outcome.SUCCEEDED:
        report.succeeded += 1
    elif outcome is policy.Outcome.RETRY:
        report.retrying += 1
    else:
        report.failed += 1


def attempt_observed(
    delivery: Any,
    result: transport.AttemptResult,
    outcome: policy.Outcome,
    *,
    kept: bool,
    event_created_at: datetime | None,
    now: datetime,
) -> None:
    """Metrics and the log line of one recorded try. ``delivery`` is a claimed row or a model
    instance (``id``, ``tenant_id``, ``event_id``, ``endpoint_id``, ``attempt_count`` before
    the try)."""
    metrics.attempt_recorded(
        status=result.status, error=result.error, duration_ms=result.duration_ms
    )
    if kept and outcome is not policy.Outcome.RETRY:
        final = "succeeded" if outcome is policy.Outcome.SUCCEEDED else "failed"
        metrics.delivery_finished(outcome=final, event_created_at=event_created_at, finished_at=now)
    if not kept:
        # The lease expired and the sweeper took the delivery back; the attempt still happened,
        # so it is recorded, but the newer state is left alone.
        logger.warning(
            "attempt finished after its lease expired",
            extra={"delivery_id": delivery.id, "endpoint_id": delivery.endpoint_id},
        )
    # A success is the common case at thousands a second: its line is DEBUG (the attempt row
    # holds it all, and each bulk logs its counts); a try that did not succeed stays INFO.
    level = logging.DEBUG if outcome is policy.Outcome.SUCCEEDED else logging.INFO
    if not logger.isEnabledFor(level):
        return
    logger.log(
        level,
        "attempt %s",
        outcome,
        extra={
            "tenant_id": delivery.tenant_id,
            "event_id": delivery.event_id,
            "delivery_id": delivery.id,
            "endpoint_id": delivery.endpoint_id,
            "attempt_number": delivery.attempt_count + 1,
            "status_code": result.status,
            "error": result.error,
            "duration_ms": result.duration_ms,
        },
    )


class RecorderThread:
    """The engine's second thread: writes finished tries in bulks, on its own connection."""

    MAX_BULK = 1000

    def __init__(
        self,
        write: Callable[[list[tuple[Flight, transport.AttemptResult]]], None],
        name: str = "webhooks-recorder",
    ):
        self._write = write
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
            while len(bulk) < self.MAX_BULK:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # close after this bulk
                    break
                bulk = bulk + more
            try:
                self._write(bulk)
            except Exception:  # noqa: BLE001  logged; the sweeper settles what was not written
                logger.exception("recorder lost %d results", len(bulk))
            with self._lock:
                self._rows -= len(bulk)
