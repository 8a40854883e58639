"""Claim a batch of deliveries, send them concurrently, record each attempt as it finishes.

``deliveries_send(wait=True)`` records results in the calling thread (tests, synchronous
callers). The deliver task uses ``wait=False``: the batch goes to this process's shared sender and
the task returns at once; a recorder thread writes results in small bulks as they arrive. Either
way, a receiver that hangs holds up only its own requests, never a worker thread.

Before sending, each endpoint's circuit breaker and rate limit decide what goes out now; the rest
is postponed (back to ``pending`` with a later ``next_attempt_at``), never failed, and costs no try.
"""

from __future__ import annotations

import logging
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
from django.utils import timezone

from deliveries import policy, signing, transport
from deliveries.engine.gate import probe_return, probe_take, rate_reserve
from deliveries.engine.health import CIRCUIT_OPEN, EndpointTally, endpoint_health
from deliveries.engine.record import attempt_observed
from deliveries.engine.send import transport_options
from deliveries.engine.state import ERROR_MAX, delivery_next_state, states_write, stored_body
from deliveries.models import Attempt, Delivery
from deliveries.ordering import ordered_release_and_dispatch
from deliveries.schedules import retry_schedule
from endpoints.services import endpoint_secrets_live, headers_open, headers_redacted
from webhooks_platform.conf import WebhooksSettings, webhooks_settings

from .operational import delivery_exhausted

logger = logging.getLogger(__name__)


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
    # An open circuit's probe among them: delivery id -> when the probe was taken.
    probes: dict[int, datetime] = field(default_factory=dict)


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
        ).select_related("event", "endpoint__tenant", "event_type")
    )


def _request_headers(
    *, delivery: Delivery, secrets: list[str], timestamp: int, body: bytes
) -> dict[str, str]:
    return signing.request_headers(
        custom=headers_open(delivery.endpoint.headers or {}),
        secrets=secrets,
        msg_id=delivery.event_id,
        timestamp=timestamp,
        body=body,
        svix_format=delivery.event.body_is_payload,
        test=delivery.event.is_test,
        style=delivery.endpoint.signature_style,
        event_type=delivery.event_type.name,
    )


# --- gates: circuit breaker and rate limit -----------------------------------------------------


def _gate(
    claimed: list[Delivery], now: datetime, ws: WebhooksSettings, probes: dict[int, datetime]
) -> tuple[list[Delivery], dict[int, datetime]]:
    """Split a claimed batch into what goes now and what waits (delivery id → when); an open
    circuit's probe is added to ``probes`` (delivery id → when it was taken)."""
    by_endpoint: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in claimed:
        by_endpoint[delivery.endpoint_id].append(delivery)
    go: list[Delivery] = []
    wait: dict[int, datetime] = {}
    for group in by_endpoint.values():
        endpoint = group[0].endpoint
        allowed = group
        if endpoint.circuit_state == CIRCUIT_OPEN:
            probe_at = probe_take(endpoint.pk, now, ws)
            allowed = group[:1] if probe_at is not None else []
            if probe_at is not None:
                probes[group[0].pk] = probe_at
            resume = max(endpoint.circuit_next_probe_at or now, now)
            for delivery in group[len(allowed) :]:
                wait[delivery.pk] = resume + timedelta(seconds=random.uniform(0.5, 3))  # noqa: S311
        if endpoint.rate_limit and allowed:
            granted, next_free, interval = rate_reserve(
                endpoint.pk, endpoint.rate_limit, len(allowed), now
            )
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
            go, later = _gate(claimed, now, ws, batch.probes)
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
        if not live or not signing.keys_for(delivery.endpoint.signature_style, live):
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
                allowed_subnets=(
                    batch.ws.subnets_for(operations=True)
                    if delivery.endpoint.tenant.is_operations
                    else None
                ),
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
    tally = EndpointTally()
    postponed: dict[int, tuple[_Batch, dict[int, datetime]]] = {}
    for batch, outcome in items:
        if isinstance(outcome, transport.Postponed):
            when = now + timedelta(seconds=random.uniform(1, 3))  # noqa: S311
            postponed.setdefault(id(batch), (batch, {}))[1][outcome.key] = when
            if outcome.key in batch.probes:  # the probe never went: due again now
                probe_return(batch.by_id[outcome.key].endpoint_id, batch.probes[outcome.key], now)
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
                if delivery.pk in batch.probes:
                    tally.probes_failed[delivery.endpoint_id] = batch.probes[delivery.pk]
            if transition.decision.outcome is policy.Outcome.GONE:
                tally.gone.add(delivery.endpoint_id)
        kept = states_write(
            [(t.delivery.pk, t.delivery.claim_token, t.fields) for t in transitions]
        )
        for transition in transitions:
            _after_write(transition, kept=transition.delivery.pk in kept, now=now)
        Attempt.objects.bulk_create(attempts)
        endpoint_health(tally, now=now, ws=ws)
        ordered_release_and_dispatch(
            {
                t.delivery.endpoint_id
                for t in transitions
                if t.delivery.endpoint.ordered
                and t.delivery.pk in kept
                and t.decision.outcome is not policy.Outcome.RETRY
            },
            now=now,
        )


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
        schedule=retry_schedule(delivery.endpoint.retry_schedule, delivery.event_type_id, batch.ws),
    )
    body, encoding = stored_body(result.response_body)
    attempt = Attempt(
        delivery_id=delivery.pk,
        endpoint_id=delivery.endpoint_id,
        number=fields["attempt_count"],
        trigger=Attempt.Trigger.MANUAL if delivery.manual_requested else Attempt.Trigger.SCHEDULED,
        started_at=result.started_at,
        duration_ms=result.duration_ms,
        request_url=delivery.endpoint.url,
        request_headers=headers_redacted(batch.sent_headers.get(delivery.pk, {})),
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


def _after_write(transition: _Transition, *, kept: bool, now: datetime) -> None:
    delivery, decision = transition.delivery, transition.decision
    # 410 already announces itself as endpoint.disabled.
    if kept and decision.outcome is policy.Outcome.FAILED:
        delivery_exhausted(delivery=delivery)
    attempt_observed(
        delivery,
        transition.result,
        decision.outcome,
        kept=kept,
        event_created_at=delivery.event.created_at,
        now=now,
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
