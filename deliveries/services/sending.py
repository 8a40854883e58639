"""Claim a batch of deliveries, send them concurrently, record each attempt as it finishes.

``deliveries_send(wait=True)`` records results in the calling thread (tests, synchronous
callers). The deliver task uses ``wait=False``: the batch goes to this process's shared sender and
the task returns at once; a recorder thread writes results in small bulks as they arrive. Either
way, a receiver that hangs holds up only its own requests, never a worker thread.

Before sending, each endpoint's circuit breaker and rate limit decide what goes out now; the rest
is postponed (back to ``pending`` with a later ``next_attempt_at``), never failed, and costs no try.
"""

from __future__ import annotations

import base64
import logging
import math
import queue
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from deliveries import policy, signing, transport
from deliveries.models import Attempt, Delivery
from endpoints.models import Endpoint
from endpoints.services import endpoint_disable, endpoint_secrets_live
from webhooks_platform import metrics
from webhooks_platform.conf import WebhooksSettings, webhooks_settings

from .dispatch import deliveries_dispatch
from .operational import delivery_exhausted, endpoint_state_changed

logger = logging.getLogger(__name__)

ERROR_MAX = 500
CIRCUIT_CLOSED = "closed"
CIRCUIT_OPEN = "open"


@dataclass
class SendSummary:
    claimed: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    postponed: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)


@dataclass
class _Batch:
    """What the recorder needs to know about the requests of one claimed batch."""

    by_id: dict[int, Delivery]
    sent_headers: dict[int, dict[str, str]]
    ws: WebhooksSettings
    summary: SendSummary = field(default_factory=SendSummary)


def deliveries_claim(*, delivery_ids: Sequence[int], now: datetime | None = None) -> list[Delivery]:
    """Take the due, pending deliveries among ``delivery_ids`` for this worker.

    One conditional UPDATE: a delivery another worker already holds, or that is not due, is not
    taken, so two workers with the same message cannot both send it.
    """
    now = now or timezone.now()
    ws = webhooks_settings()
    token = uuid.uuid4()
    taken = Delivery.objects.filter(
        id__in=list(delivery_ids),
        status=Delivery.Status.PENDING,
        next_attempt_at__lte=now,
        endpoint__enabled=True,
        endpoint__deleted_at__isnull=True,
    ).update(
        status=Delivery.Status.SENDING,
        claim_token=token,
        lease_expires_at=now + timedelta(seconds=ws.lease_seconds),
        dispatched_until=None,
    )
    if not taken:
        return []
    return deliveries_claimed(claim_token=token)


def deliveries_claimed(*, claim_token: uuid.UUID) -> list[Delivery]:
    """The deliveries held under ``claim_token``, with what sending them needs."""
    return list(
        Delivery.objects.filter(
            claim_token=claim_token, status=Delivery.Status.SENDING
        ).select_related("event", "endpoint", "event_type")
    )


def _request_headers(
    *, delivery: Delivery, secrets: list[str], timestamp: int, body: bytes
) -> dict[str, str]:
    headers = dict(delivery.endpoint.headers or {})
    headers["content-type"] = "application/json"
    headers.update(
        signing.headers(secrets=secrets, msg_id=delivery.event_id, timestamp=timestamp, body=body)
    )
    return headers


def _stored_body(raw: bytes) -> tuple[str, str]:
    # PostgreSQL text cannot hold NUL, so such bodies are kept as base64 like any binary one.
    if b"\x00" not in raw:
        try:
            return raw.decode("utf-8"), Attempt.BodyEncoding.UTF8
        except UnicodeDecodeError:
            pass
    return base64.b64encode(raw).decode("ascii"), Attempt.BodyEncoding.BASE64


def transport_options(ws: WebhooksSettings) -> transport.TransportOptions:
    return transport.TransportOptions(
        timeout=ws.attempt_timeout,
        allowed_subnets=ws.allowed_subnets,
        body_limit=ws.response_body_limit,
        require_https=ws.require_https,
        per_group_limit=ws.endpoint_concurrency,
    )


# --- gates: circuit breaker and rate limit -----------------------------------------------------


def _probe_take(endpoint: Endpoint, now: datetime, ws: WebhooksSettings) -> bool:
    """Let one probe through an open circuit; pushes the next probe past this one's lease."""
    return bool(
        Endpoint.objects.filter(
            pk=endpoint.pk, circuit_state=CIRCUIT_OPEN, circuit_next_probe_at__lte=now
        ).update(circuit_next_probe_at=now + timedelta(seconds=ws.lease_seconds))
    )


def _rate_reserve(endpoint: Endpoint, wanted: int, now: datetime) -> tuple[int, datetime, float]:
    """GCRA over ``Endpoint.rate_limit_tat``: how many of ``wanted`` may go now.

    Allows a burst of one second's worth. The row lock makes it correct across every worker on
    every machine, on PostgreSQL and on SQLite (whose write transactions are serialised).
    Returns (granted, when the next slot frees, seconds per slot).
    """
    interval = 1.0 / endpoint.rate_limit
    with transaction.atomic():
        row = Endpoint.objects.select_for_update().only("rate_limit_tat").get(pk=endpoint.pk)
        tat = max(row.rate_limit_tat or now, now)
        room = (now + timedelta(seconds=1) - tat).total_seconds()
        granted = max(0, min(wanted, math.floor(room / interval + 1e-9)))
        tat = tat + timedelta(seconds=granted * interval)
        Endpoint.objects.filter(pk=endpoint.pk).update(rate_limit_tat=tat)
    return granted, tat, interval


def _gate(
    claimed: list[Delivery], now: datetime, ws: WebhooksSettings
) -> tuple[list[Delivery], dict[int, datetime]]:
    """Split a claimed batch into what goes now and what waits (delivery id → when)."""
    by_endpoint: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in claimed:
        by_endpoint[delivery.endpoint_id].append(delivery)
    go: list[Delivery] = []
    wait: dict[int, datetime] = {}
    for group in by_endpoint.values():
        endpoint = group[0].endpoint
        allowed = group
        if endpoint.circuit_state == CIRCUIT_OPEN:
            allowed = group[:1] if _probe_take(endpoint, now, ws) else []
            resume = max(endpoint.circuit_next_probe_at or now, now)
            for delivery in group[len(allowed) :]:
                wait[delivery.pk] = resume + timedelta(seconds=random.uniform(0.5, 3))  # noqa: S311
        if endpoint.rate_limit and allowed:
            granted, next_free, interval = _rate_reserve(endpoint, len(allowed), now)
            for i, delivery in enumerate(allowed[granted:]):
                wait[delivery.pk] = next_free + timedelta(seconds=i * interval)
            allowed = allowed[:granted]
        go.extend(allowed)
    return go, wait


def _put_back(deliveries: Iterable[tuple[Delivery, datetime]]) -> None:
    """Claimed deliveries back to ``pending``, due at the given times, without using a try.

    Each keeps its own guard: a delivery whose claim was taken back meanwhile is left alone.
    """
    for delivery, when in deliveries:
        Delivery.objects.filter(
            pk=delivery.pk, claim_token=delivery.claim_token, status=Delivery.Status.SENDING
        ).update(
            status=Delivery.Status.PENDING,
            next_attempt_at=when,
            claim_token=None,
            lease_expires_at=None,
        )


def _postpone(batch: _Batch, until: dict[int, datetime]) -> None:
    """Put claimed deliveries back, due later, without using a try."""
    _put_back((batch.by_id[delivery_id], when) for delivery_id, when in until.items())
    for delivery_id in until:
        batch.summary.postponed += 1
        batch.summary.outcomes[delivery_id] = "postponed"


# --- sending -------------------------------------------------------------------------------------


def deliveries_send(
    *,
    delivery_ids: Sequence[int] = (),
    wait: bool = True,
    claim_token: uuid.UUID | None = None,
    expected: int = 0,
) -> SendSummary:
    """Claim, gate, sign and send a batch.

    With ``wait`` the attempts are recorded here before returning; without, by this process's
    recorder thread as each finishes (the summary then only counts what was claimed and
    postponed). With ``claim_token`` the deliveries were claimed already (created ``sending``
    by the fan-out, ``expected`` of them) and are only loaded.
    """
    ws = webhooks_settings()
    shared = transport.sender(ws.sender_max_pending)
    reserved = expected if claim_token is not None else len(delivery_ids)
    shared.reserve(reserved)
    try:
        now = timezone.now()
        if claim_token is not None:
            claimed = deliveries_claimed(claim_token=claim_token)
        else:
            claimed = deliveries_claim(delivery_ids=delivery_ids, now=now)
        shared.release(reserved - len(claimed))
        reserved = len(claimed)
        batch = _Batch(by_id={d.pk: d for d in claimed}, sent_headers={}, ws=ws)
        batch.summary.claimed = len(claimed)
        if not claimed:
            return batch.summary
        try:
            go, later = _gate(claimed, now, ws)
            if later:
                _postpone(batch, later)
            requests, unsendable = _build_requests(batch, go)
            if unsendable:
                _record(batch, unsendable)
        except Exception:
            # Nothing was sent: put the batch back without using a try, rather than leave it
            # ``sending`` until the sweeper records a lost attempt for each.
            logger.exception("could not prepare a batch of %d deliveries", len(claimed))
            _put_back((delivery, now + timedelta(seconds=30)) for delivery in claimed)
            raise
        shared.release(reserved - len(requests))
        reserved = len(requests)
        if not requests:
            return batch.summary
        if wait:
            out: queue.Queue[Any] = queue.Queue()
            shared.submit(requests, transport_options(ws), out)
            reserved = 0
            remaining = len(requests)
            while remaining:
                outcomes = _drain(out)
                remaining -= len(outcomes)
                _record(batch, outcomes)
        else:
            shared.submit(requests, transport_options(ws), recorder().inbox(batch))
            reserved = 0
        return batch.summary
    finally:
        shared.release(reserved)


def _build_requests(
    batch: _Batch, deliveries: list[Delivery]
) -> tuple[list[transport.OutboundRequest], list[transport.Outcome]]:
    secrets = endpoint_secrets_live(endpoint_ids={d.endpoint_id for d in deliveries})
    timestamp = int(time.time())
    requests: list[transport.OutboundRequest] = []
    unsendable: list[transport.Outcome] = []
    for delivery in deliveries:
        live = secrets.get(delivery.endpoint_id)
        problem = ""
        if not live:
            problem = "no live signing secret"
        elif delivery.event.payload_purged:
            # Retention blanked the body between a replay's check and now: never send "".
            problem = "event payload was removed by retention"
        if problem:
            unsendable.append(
                transport.AttemptResult(
                    key=delivery.pk, started_at=timezone.now(), duration_ms=0, error=problem
                )
            )
            continue
        body = delivery.event.body.encode("utf-8")
        headers = _request_headers(delivery=delivery, secrets=live, timestamp=timestamp, body=body)
        batch.sent_headers[delivery.pk] = headers
        requests.append(
            transport.OutboundRequest(
                key=delivery.pk,
                url=delivery.endpoint.url,
                headers=headers,
                body=body,
                group=delivery.endpoint_id,
            )
        )
    return requests, unsendable


def _drain(out: queue.Queue[Any], first_timeout: float | None = None) -> list[Any]:
    items = [out.get(timeout=first_timeout)]
    while True:
        try:
            items.append(out.get_nowait())
        except queue.Empty:
            return items


# --- recording -----------------------------------------------------------------------------------


@dataclass
class _EndpointTally:
    succeeded: set[str] = field(default_factory=set)
    # Endpoints that succeeded and, when their deliveries were claimed, had failures on record
    # or an open circuit: only those need a write (a healthy endpoint costs no statement).
    recovered: set[str] = field(default_factory=set)
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    gone: set[str] = field(default_factory=set)


def _record(batch: _Batch, outcomes: list[transport.Outcome]) -> None:
    """Write the attempts of ``outcomes`` and each delivery's next state, in one transaction."""
    _record_many([(batch, outcome) for outcome in outcomes])


@dataclass
class _Transition:
    """One finished try: the delivery, its attempt row, the decision and the state to write."""

    batch: _Batch
    delivery: Delivery
    result: transport.AttemptResult
    decision: policy.Decision
    fields: dict[str, Any]


def _record_many(items: list[tuple[_Batch, transport.Outcome]]) -> None:
    """Record outcomes of any number of batches in one transaction: one INSERT for the attempts,
    one UPDATE for the deliveries on PostgreSQL (row by row elsewhere), one pass over endpoint
    health. Each delivery's UPDATE still requires its claim token, so a delivery whose lease was
    taken back meanwhile keeps its newer state."""
    if not items:
        return
    now = timezone.now()
    ws = items[0][0].ws
    attempts: list[Attempt] = []
    transitions: list[_Transition] = []
    tally = _EndpointTally()
    postponed: dict[int, tuple[_Batch, dict[int, datetime]]] = {}
    for batch, outcome in items:
        if isinstance(outcome, transport.Postponed):
            when = now + timedelta(seconds=random.uniform(1, 3))  # noqa: S311
            postponed.setdefault(id(batch), (batch, {}))[1][outcome.key] = when
    with transaction.atomic():
        for batch, until in postponed.values():
            _postpone(batch, until)
        for batch, result in items:
            if isinstance(result, transport.Postponed):
                continue
            delivery = batch.by_id[result.key]
            attempt, transition = _apply(batch, delivery, result, now)
            attempts.append(attempt)
            transitions.append(transition)
            if transition.decision.outcome is policy.Outcome.SUCCEEDED:
                tally.succeeded.add(delivery.endpoint_id)
                endpoint = delivery.endpoint
                if (
                    endpoint.failing_since is not None
                    or endpoint.consecutive_failures
                    or endpoint.circuit_state == CIRCUIT_OPEN
                ):
                    tally.recovered.add(delivery.endpoint_id)
            else:
                tally.failures[delivery.endpoint_id] += 1
            if transition.decision.outcome is policy.Outcome.GONE:
                tally.gone.add(delivery.endpoint_id)
        kept = _states_write(transitions)
        for transition in transitions:
            _after_write(transition, kept=transition.delivery.pk in kept, now=now)
        Attempt.objects.bulk_create(attempts)
        _endpoint_health(tally, now=now, ws=ws)


def delivery_next_state(
    delivery: Delivery,
    *,
    status: int,
    error: str,
    started_at: datetime,
    now: datetime,
    ws: WebhooksSettings,
    retry_after: float | None = None,
) -> tuple[policy.Decision, dict[str, Any]]:
    """What one finished try (status 0: no response) makes of ``delivery``: the policy's
    decision and the columns to write. Shared by the recorder and the sweeper's lease recovery."""
    manual = delivery.manual_requested
    scheduled = delivery.scheduled_attempts + (0 if manual else 1)
    decision = policy.decide(
        status=status,
        tries_so_far=max(scheduled, 1),
        schedule=ws.retry_schedule,
        jitter=ws.retry_jitter,
        retry_after=retry_after,
        retry_after_max=ws.retry_after_max,
    )
    fields: dict[str, Any] = {
        "attempt_count": delivery.attempt_count + 1,
        "scheduled_attempts": scheduled,
        "manual_requested": False,
        "claim_token": None,
        "lease_expires_at": None,
        "last_attempt_at": started_at,
        "last_status_code": status,
        "last_error": error[:ERROR_MAX],
    }
    if decision.outcome is policy.Outcome.SUCCEEDED:
        fields.update(status=Delivery.Status.SUCCEEDED, finished_at=now, next_attempt_at=None)
    elif decision.outcome is policy.Outcome.RETRY:
        fields.update(
            status=Delivery.Status.PENDING,
            next_attempt_at=now + timedelta(seconds=decision.delay or 0),
        )
    else:
        fields.update(status=Delivery.Status.FAILED, finished_at=now, next_attempt_at=None)
    return decision, fields


def _apply(
    batch: _Batch, delivery: Delivery, result: transport.AttemptResult, now: datetime
) -> tuple[Attempt, _Transition]:
    """The attempt row and the delivery's next state for one result (nothing written yet)."""
    decision, fields = delivery_next_state(
        delivery,
        status=result.status,
        error=result.error,
        started_at=result.started_at,
        now=now,
        ws=batch.ws,
        retry_after=policy.parse_retry_after(result.retry_after, now=now),
    )
    body, encoding = _stored_body(result.response_body)
    attempt = Attempt(
        delivery_id=delivery.pk,
        endpoint_id=delivery.endpoint_id,
        number=fields["attempt_count"],
        trigger=Attempt.Trigger.MANUAL if delivery.manual_requested else Attempt.Trigger.SCHEDULED,
        started_at=result.started_at,
        duration_ms=result.duration_ms,
        request_url=delivery.endpoint.url,
        request_headers=batch.sent_headers.get(delivery.pk, {}),
        response_status=result.status,
        response_headers=result.response_headers,
        response_body=body,
        response_body_encoding=encoding,
        error=result.error[:ERROR_MAX],
    )
    summary = batch.summary
    if decision.outcome is policy.Outcome.SUCCEEDED:
        summary.succeeded += 1
    elif decision.outcome is policy.Outcome.RETRY:
        summary.retrying += 1
    else:
        summary.failed += 1
    summary.outcomes[delivery.pk] = str(decision.outcome)
    return attempt, _Transition(batch, delivery, result, decision, fields)


# The columns a finished try writes, with their PostgreSQL types (for the VALUES list).
_STATE_COLUMNS = (
    ("status", "varchar"),
    ("attempt_count", "integer"),
    ("scheduled_attempts", "integer"),
    ("last_attempt_at", "timestamptz"),
    ("last_status_code", "integer"),
    ("last_error", "varchar"),
    ("next_attempt_at", "timestamptz"),
    ("finished_at", "timestamptz"),
)


def _states_write(transitions: list[_Transition]) -> set[int]:
    """Write each delivery's new state if it still holds its claim; returns the ids written."""
    if not transitions:
        return set()
    if connection.vendor != "postgresql":
        return {
            t.delivery.pk
            for t in transitions
            if Delivery.objects.filter(pk=t.delivery.pk, claim_token=t.delivery.claim_token).update(
                **t.fields
            )
        }
    # One statement for the whole bulk; the claim-token condition is per row, as above.
    table = connection.ops.quote_name(Delivery._meta.db_table)
    row = "(%s::bigint, %s::uuid, %s::boolean, " + ", ".join(
        f"%s::{kind}" for _, kind in _STATE_COLUMNS
    )
    row += ")"
    params: list[Any] = []
    for t in transitions:
        params += [t.delivery.pk, t.delivery.claim_token, "finished_at" in t.fields]
        params += [t.fields.get(name) for name, _ in _STATE_COLUMNS]
    assignments = ", ".join(
        f"{name} = v.{name}" for name, _ in _STATE_COLUMNS if name != "finished_at"
    )
    # Identifiers come from the model and the constant above; every value is a parameter.
    sql = (
        f"UPDATE {table} AS d SET {assignments}, "  # noqa: S608
        "finished_at = CASE WHEN v.sets_finished THEN v.finished_at ELSE d.finished_at END, "
        "manual_requested = false, claim_token = NULL, lease_expires_at = NULL "
        f"FROM (VALUES {', '.join([row] * len(transitions))}) "
        f"AS v(id, token, sets_finished, {', '.join(name for name, _ in _STATE_COLUMNS)}) "
        "WHERE d.id = v.id AND d.claim_token = v.token RETURNING d.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {r[0] for r in cursor.fetchall()}


def _after_write(transition: _Transition, *, kept: bool, now: datetime) -> None:
    delivery, result, decision = transition.delivery, transition.result, transition.decision
    metrics.attempt_recorded(
        status=result.status, error=result.error, duration_ms=result.duration_ms
    )
    if kept and decision.outcome is not policy.Outcome.RETRY:
        final = "succeeded" if decision.outcome is policy.Outcome.SUCCEEDED else "failed"
        metrics.delivery_finished(
            outcome=final, event_created_at=delivery.event.created_at, finished_at=now
        )
        # 410 already announces itself as endpoint.disabled.
        if decision.outcome is policy.Outcome.FAILED:
            delivery_exhausted(delivery=delivery)
    if not kept:
        # The lease expired and the sweeper took the delivery back; the attempt still happened,
        # so it is recorded, but the newer state is left alone.
        logger.warning(
            "attempt finished after its lease expired",
            extra={"delivery_id": delivery.pk, "endpoint_id": delivery.endpoint_id},
        )
    logger.info(
        "attempt %s",
        decision.outcome,
        extra={
            "tenant_id": delivery.tenant_id,
            "event_id": delivery.event_id,
            "delivery_id": delivery.pk,
            "endpoint_id": delivery.endpoint_id,
            "attempt_number": delivery.attempt_count + 1,
            "status_code": result.status,
            "error": result.error,
            "duration_ms": result.duration_ms,
        },
    )


def _endpoint_health(tally: _EndpointTally, *, now: datetime, ws: WebhooksSettings) -> None:
    """Failing-since, consecutive failures, the circuit breaker and automatic disabling."""
    succeeded = tally.succeeded
    failed = {e: n for e, n in tally.failures.items() if e not in succeeded}
    if tally.recovered:
        Endpoint.objects.filter(id__in=tally.recovered).exclude(
            failing_since__isnull=True, consecutive_failures=0
        ).update(failing_since=None, consecutive_failures=0)
        reopened = list(
            Endpoint.objects.filter(id__in=tally.recovered, circuit_state=CIRCUIT_OPEN).values_list(
                "id", flat=True
            )
        )
        if reopened:
            _circuit_close(reopened, now)
    if failed:
        rows = _failures_add(failed, now)
        _circuit_after_failures(rows, now, ws)
        cutoff = now - timedelta(seconds=ws.disable_after_failing_seconds)
        days = ws.disable_after_failing_seconds / 86400
        for row in rows:
            if row.id in tally.gone or not row.enabled or row.failing_since > cutoff:
                continue
            endpoint_disable(
                endpoint=Endpoint.objects.get(pk=row.id),
                reason=(
                    f"every attempt failed for {days:g} days "
                    f"(since {row.failing_since:%Y-%m-%d %H:%M} UTC)"
                ),
            )
    for endpoint in Endpoint.objects.filter(id__in=tally.gone, enabled=True):
        endpoint_disable(endpoint=endpoint, reason="the receiver answered 410 Gone")


def _probe_delay(failed_probes: int, ws: WebhooksSettings) -> float:
    schedule = ws.retry_schedule or (5.0,)
    return policy.jittered(
        schedule[min(max(failed_probes, 0), len(schedule) - 1)], jitter=ws.retry_jitter
    )


@dataclass(frozen=True)
class _FailingEndpoint:
    id: str
    circuit_state: str
    consecutive_failures: int
    enabled: bool
    failing_since: datetime


def _failures_add(failed: dict[str, int], now: datetime) -> list[_FailingEndpoint]:
    """Add each endpoint's new failures to its run and start ``failing_since`` where unset.

    On PostgreSQL one ``UPDATE ... FROM (VALUES ...) RETURNING`` for all of them, its values
    sorted so that two recorders take the row locks in the same order; elsewhere row by row.
    """
    if connection.vendor == "postgresql":
        table = Endpoint._meta.db_table
        items = sorted(failed.items())
        values = ", ".join(["(%s, %s)"] * len(items))
        params: list[Any] = [now]
        for endpoint_id, count in items:
            params.extend([endpoint_id, count])
        sql = (
            f'UPDATE "{table}" AS e SET consecutive_failures = e.consecutive_failures + v.n, '  # noqa: S608  (table name from the model; values are parameters)
            "failing_since = COALESCE(e.failing_since, %s) "
            f"FROM (VALUES {values}) AS v(id, n) WHERE e.id = v.id "
            "RETURNING e.id, e.circuit_state, e.consecutive_failures, e.enabled, e.failing_since"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [_FailingEndpoint(*row) for row in cursor.fetchall()]
    for endpoint_id, count in sorted(failed.items()):
        Endpoint.objects.filter(pk=endpoint_id).update(
            consecutive_failures=F("consecutive_failures") + count
        )
    Endpoint.objects.filter(id__in=failed, failing_since__isnull=True).update(failing_since=now)
    return [
        _FailingEndpoint(*row)
        for row in Endpoint.objects.filter(id__in=failed).values_list(
            "id", "circuit_state", "consecutive_failures", "enabled", "failing_since"
        )
    ]


def _circuit_after_failures(
    rows: list[_FailingEndpoint], now: datetime, ws: WebhooksSettings
) -> None:
    threshold = ws.circuit_failure_threshold
    if threshold <= 0:
        return
    for row in rows:
        if row.consecutive_failures < threshold:
            continue
        endpoint_id, state, failures = row.id, row.circuit_state, row.consecutive_failures
        next_probe = now + timedelta(seconds=_probe_delay(failures - threshold, ws))
        if state == CIRCUIT_OPEN:
            # A failed probe: the next one waits longer, following the retry schedule.
            Endpoint.objects.filter(pk=endpoint_id).update(circuit_next_probe_at=next_probe)
            continue
        opened = Endpoint.objects.filter(pk=endpoint_id, circuit_state=CIRCUIT_CLOSED).update(
            circuit_state=CIRCUIT_OPEN, circuit_opened_at=now, circuit_next_probe_at=next_probe
        )
        if opened:
            logger.warning(
                "circuit opened after %d failures in a row",
                failures,
                extra={"endpoint_id": endpoint_id},
            )
            endpoint_state_changed(
                endpoint=Endpoint.objects.get(pk=endpoint_id),
                event="endpoint.circuit_opened",
                reason=f"{failures} failures in a row",
            )


def _circuit_close(endpoint_ids: list[str], now: datetime) -> None:
    closed = [
        endpoint_id
        for endpoint_id in endpoint_ids
        if Endpoint.objects.filter(pk=endpoint_id, circuit_state=CIRCUIT_OPEN).update(
            circuit_state=CIRCUIT_CLOSED, circuit_opened_at=None, circuit_next_probe_at=None
        )
    ]
    for endpoint in Endpoint.objects.filter(id__in=closed):
        endpoint_state_changed(
            endpoint=endpoint, event="endpoint.circuit_closed", reason="a probe succeeded"
        )
    # The probe succeeded: everything that waited goes now.
    backlog = list(
        Delivery.objects.filter(
            endpoint_id__in=endpoint_ids, status=Delivery.Status.PENDING
        ).values_list("id", flat=True)
    )
    if backlog:
        Delivery.objects.filter(id__in=backlog).update(next_attempt_at=now, dispatched_until=None)
        deliveries_dispatch(delivery_ids=backlog)
    for endpoint_id in endpoint_ids:
        logger.info(
            "circuit closed; %d deliveries released",
            len(backlog),
            extra={"endpoint_id": endpoint_id},
        )


# --- the recorder thread -----------------------------------------------------------------


class _Inbox:
    """Where the sender puts one batch's outcomes: tagged with the batch for the recorder."""

    def __init__(self, recorder: Recorder, batch: _Batch) -> None:
        self._recorder = recorder
        self._batch = batch

    def put(self, outcome: transport.Outcome) -> None:
        self._recorder.queue.put((self._batch, outcome))


class Recorder:
    """Writes results of fire-and-forget batches, in small bulks, on its own DB connection.

    If the database is unreachable it retries for a while and then gives up on that bulk: the
    deliveries stay ``sending`` until their lease expires and the sweeper sends them again, so a
    failure here can duplicate a delivery but never lose one.
    """

    MAX_BULK = 500
    RETRIES = 5

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[_Batch, transport.Outcome]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="webhooks-recorder", daemon=True)
        self._thread.start()

    def inbox(self, batch: _Batch) -> _Inbox:
        return _Inbox(self, batch)

    def idle(self) -> bool:
        return self.queue.unfinished_tasks == 0

    def _run(self) -> None:
        while True:
            items = [self.queue.get()]
            while len(items) < self.MAX_BULK:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            self._write(items)
            for _ in items:
                self.queue.task_done()

    def _write(self, items: list[tuple[_Batch, transport.Outcome]]) -> None:
        """Everything that finished since the last write, whatever its batch: one transaction.

        If that keeps failing, each result is written alone, so one result the database refuses
        cannot hold back the others (they would otherwise wait for the sweeper, and be sent again).
        """
        if self._try(items, tries=self.RETRIES if len(items) == 1 else 2) or len(items) == 1:
            return
        for item in items:
            self._try([item], tries=self.RETRIES)

    def _try(self, items: list[tuple[_Batch, transport.Outcome]], *, tries: int) -> bool:
        for attempt in range(1, tries + 1):
            try:
                close_old_connections()
                _record_many(items)
                return True
            except Exception:  # noqa: BLE001  a failed write is retried, then left to the sweeper
                logger.exception(
                    "could not record %d results (try %d of %d)", len(items), attempt, tries
                )
                connection.close()
                time.sleep(min(2**attempt * 0.1, 5))
        return False


_recorder: Recorder | None = None
_recorder_lock = threading.Lock()


def recorder() -> Recorder:
    global _recorder
    with _recorder_lock:
        if _recorder is None or not _recorder._thread.is_alive():
            _recorder = Recorder()
        return _recorder


def sender_drain(timeout: float) -> bool:
    """Wait for in-flight requests and their records (a worker shutting down calls this)."""
    deadline = time.monotonic() + timeout
    if not transport.sender().drain(timeout):
        return False
    if _recorder is None:
        return True
    while not _recorder.idle():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
