"""Endpoint health after each bulk of results: failing-since, consecutive failures, the circuit
breaker and automatic disabling."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Case, DateTimeField, F, Value, When

from deliveries import policy
from deliveries.models import Delivery
from endpoints.models import Endpoint
from platform_core.conf import WebhooksSettings

from .effects import Effects

logger = logging.getLogger(__name__)

CIRCUIT_CLOSED = "closed"
CIRCUIT_OPEN = "open"


@dataclass
class EndpointTally:
    succeeded: set[str] = field(default_factory=set)
    # Endpoints that succeeded and, when their deliveries were claimed, had failures on record
    # or an open circuit: only those need a write (a healthy endpoint costs no statement).
    recovered: set[str] = field(default_factory=set)
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    gone: set[str] = field(default_factory=set)
    # Endpoints whose probe failed -> when that probe went out (``circuit_probe_at``).
    probes_failed: dict[str, datetime] = field(default_factory=dict)


def endpoint_health(
    tally: EndpointTally, *, now: datetime, ws: WebhooksSettings, effects: Effects
) -> None:
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
            _circuit_close(reopened, now, effects)
    if failed:
        rows = _failures_add(failed, now)
        _circuit_after_failures(rows, now, ws, effects)
        _probes_failed(
            {e: at for e, at in tally.probes_failed.items() if e not in succeeded}, now, ws
        )
        cutoff = now - timedelta(seconds=ws.disable_after_failing_seconds)
        days = ws.disable_after_failing_seconds / 86400
        for row in rows:
            if row.id in tally.gone or not row.enabled or row.failing_since > cutoff:
                continue
            effects.endpoint_disable(
                row.id,
                f"every attempt failed for {days:g} days "
                f"(since {row.failing_since:%Y-%m-%d %H:%M} UTC)",
            )
    if not tally.gone:
        return
    gone = Endpoint.objects.filter(id__in=tally.gone, enabled=True).values_list("id", flat=True)
    for endpoint_id in gone:
        effects.endpoint_disable(endpoint_id, "the receiver answered 410 Gone")


def _probe_delay(failed_probes: int, ws: WebhooksSettings) -> float:
    """Seconds to the next probe after ``failed_probes`` failed ones: the retry schedule's step
    of that number (its first when the circuit has just opened), its last step beyond it."""
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
    rows: list[_FailingEndpoint], now: datetime, ws: WebhooksSettings, effects: Effects
) -> None:
    threshold = ws.circuit_failure_threshold
    if threshold <= 0:
        return
    for row in rows:
        # Only a closed circuit opens here. Failures while it is open (requests that were in
        # flight when it opened, from any worker, or a person's manual tries) leave the next
        # probe where it is: only a failed probe moves it (``_probes_failed``).
        if row.consecutive_failures < threshold or row.circuit_state == CIRCUIT_OPEN:
            continue
        endpoint_id, failures = row.id, row.consecutive_failures
        next_probe = now + timedelta(seconds=_probe_delay(0, ws))
        opened = Endpoint.objects.filter(pk=endpoint_id, circuit_state=CIRCUIT_CLOSED).update(
            circuit_state=CIRCUIT_OPEN,
            circuit_opened_at=now,
            circuit_next_probe_at=next_probe,
            circuit_failed_probes=0,
            circuit_probe_at=None,
        )
        if opened:
            logger.warning(
                "circuit opened after %d failures in a row",
                failures,
                extra={"endpoint_id": endpoint_id},
            )
            effects.endpoint_state_changed(
                endpoint_id, "endpoint.circuit_opened", f"{failures} failures in a row"
            )


def _probes_failed(probes: dict[str, datetime], now: datetime, ws: WebhooksSettings) -> None:
    """Each failed probe moves its endpoint's next probe one step along the schedule.

    One conditional UPDATE per endpoint, counted only while the circuit is still open under
    that probe (``circuit_probe_at`` is when it went out): a probe whose circuit closed, or
    whose lease ran out and was followed by another, counts for nothing. The step follows the
    row's own count, so workers recording at the same time never read-modify-write it.
    """
    schedule = ws.retry_schedule or (5.0,)
    for endpoint_id, sent_at in sorted(probes.items()):
        # The count before this failure -> the next probe after it.
        steps = [
            When(
                circuit_failed_probes=before,
                then=Value(now + timedelta(seconds=_probe_delay(before + 1, ws))),
            )
            for before in range(len(schedule) - 1)
        ]
        last = Value(now + timedelta(seconds=_probe_delay(len(schedule), ws)))
        Endpoint.objects.filter(
            pk=endpoint_id, circuit_state=CIRCUIT_OPEN, circuit_probe_at=sent_at
        ).update(
            circuit_next_probe_at=Case(*steps, default=last, output_field=DateTimeField()),
            circuit_failed_probes=F("circuit_failed_probes") + 1,
            circuit_probe_at=None,
        )


def _circuit_close(endpoint_ids: list[str], now: datetime, effects: Effects) -> None:
    closed = [
        endpoint_id
        for endpoint_id in endpoint_ids
        if Endpoint.objects.filter(pk=endpoint_id, circuit_state=CIRCUIT_OPEN).update(
            circuit_state=CIRCUIT_CLOSED,
            circuit_opened_at=None,
            circuit_next_probe_at=None,
            circuit_failed_probes=0,
            circuit_probe_at=None,
        )
    ]
    for endpoint_id in closed:
        effects.endpoint_state_changed(endpoint_id, "endpoint.circuit_closed", "a probe succeeded")
    # The probe succeeded: everything that waited goes now.
    # A scheduled event's delivery keeps its time.
    backlog = list(
        Delivery.objects.filter(endpoint_id__in=endpoint_ids, status=Delivery.Status.PENDING)
        .exclude(event__deliver_at__gt=now)
        .values_list("id", flat=True)
    )
    if backlog:
        Delivery.objects.filter(id__in=backlog).update(next_attempt_at=now, dispatched_until=None)
        effects.deliveries_dispatch(backlog)
    for endpoint_id in endpoint_ids:
        logger.info(
            "circuit closed; %d deliveries released",
            len(backlog),
            extra={"endpoint_id": endpoint_id},
        )
