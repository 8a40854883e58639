"""Recording finished tries: one transaction per bulk of results, whatever their endpoints.

Each result becomes one ``Attempt`` row (one multi-row INSERT for the bulk) and its delivery's
next state (one ``UPDATE … FROM (VALUES …)`` on PostgreSQL), written only where the delivery
still holds the claim the try was made under. Endpoint health follows in the same transaction.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from deliveries import policy, transport
from deliveries.models import Delivery
from deliveries.schedules import retry_schedule
from platform_core import metrics
from platform_core.conf import WebhooksSettings

from .attempts import attempt_row, attempts_insert
from .effects import Effects
from .flight import Flight, RecordReport
from .health import EndpointTally, endpoint_health
from .ordered import ordered_hand_over
from .pipelined import ordered_record_pipelined, pipelined_applies
from .state import delivery_cancelled_state, delivery_next_state, states_write

__all__ = ["Flight", "RecordReport", "results_record", "results_record_retrying"]

logger = logging.getLogger(__name__)


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
            fields = delivery_cancelled_state(
                claimed, started_at=result.started_at, error=result.error, now=now
            )
            attempts.append(attempt_row(flight, result, fields["attempt_count"]))
            rows.append((claimed.id, claimed.claim_token, fields))
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
        attempts.append(attempt_row(flight, result, fields["attempt_count"]))
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
    if pipelined_applies(decisions, cancelled=cancelled, tally=tally):
        kept, deleted, report.adopted = ordered_record_pipelined(
            rows, attempts, decisions, now=now, effects=effects
        )
        decisions = [d for d in decisions if d[0].claimed.id not in deleted]
    else:
        kept, decisions = _record(
            rows, attempts, decisions, cancelled, tally, report, now=now, ws=ws, effects=effects
        )
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


def _record(
    rows: list[tuple[int, Any, dict[str, Any]]],
    attempts: list[tuple[Any, ...]],
    decisions: list[tuple[Flight, transport.AttemptResult, policy.Decision]],
    cancelled: list[Flight],
    tally: EndpointTally,
    report: RecordReport,
    *,
    now: datetime,
    ws: WebhooksSettings,
    effects: Effects,
) -> tuple[set[int], list[tuple[Flight, transport.AttemptResult, policy.Decision]]]:
    """The bulk's transaction, statement by statement: the states written (their ids) and the
    decisions of deliveries that still exist."""
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
        report.adopted = ordered_hand_over(
            [(flight, decision.outcome) for flight, _, decision in decisions],
            cancelled,
            kept=kept,
            now=now,
            effects=effects,
        )
    return kept, decisions


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
