"""What a finished try makes of a delivery, and writing that state back under its claim.

Shared by the engine's recorder and the sweeper's lease recovery.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.db import connection

from deliveries import policy
from deliveries.models import Attempt, Delivery
from platform_core.conf import WebhooksSettings
from platform_core.db import bound_cursor

ERROR_MAX = 500


class TryCounts(Protocol):
    """What the policy needs to know about a delivery (a model instance or a claimed row)."""

    attempt_count: int
    scheduled_attempts: int
    manual_requested: bool


def stored_body(raw: bytes) -> tuple[str, str]:
    """A response body as stored: text when it is UTF-8, base64 otherwise."""
    # PostgreSQL text cannot hold NUL, so such bodies are kept as base64 like any binary one.
    if b"\x00" not in raw:
        try:
            return raw.decode("utf-8"), Attempt.BodyEncoding.UTF8
        except UnicodeDecodeError:
            pass
    return base64.b64encode(raw).decode("ascii"), Attempt.BodyEncoding.BASE64


def delivery_next_state(
    delivery: TryCounts,
    *,
    status: int,
    error: str,
    started_at: datetime,
    now: datetime,
    ws: WebhooksSettings,
    retry_after: float | None = None,
    schedule: tuple[float, ...] | None = None,
) -> tuple[policy.Decision, dict[str, Any]]:
    """What one finished try (status 0: no response) makes of ``delivery``: the policy's
    decision and the columns to write. ``schedule``: the delivery's own retry schedule
    (``deliveries.schedules``); None: the platform's."""
    manual = delivery.manual_requested
    scheduled = delivery.scheduled_attempts + (0 if manual else 1)
    decision = policy.decide(
        status=status,
        tries_so_far=max(scheduled, 1),
        schedule=ws.retry_schedule if schedule is None else schedule,
        jitter=ws.retry_jitter,
        retry_after=retry_after,
        retry_after_max=ws.retry_after_max,
    )
    fields = _tried(
        delivery, scheduled=scheduled, started_at=started_at, status=status, error=error
    )
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


def delivery_cancelled_state(
    delivery: TryCounts, *, started_at: datetime, error: str, now: datetime
) -> dict[str, Any]:
    """The columns to write for a delivery its transformation cancelled: nothing was sent, so
    no scheduled try is used, and it ends ``cancelled``."""
    fields = _tried(
        delivery,
        scheduled=delivery.scheduled_attempts,
        started_at=started_at,
        status=0,
        error=error,
    )
    fields.update(status=Delivery.Status.CANCELLED, finished_at=now, next_attempt_at=None)
    return fields


def _tried(
    delivery: TryCounts, *, scheduled: int, started_at: datetime, status: int, error: str
) -> dict[str, Any]:
    """The columns every finished try writes, whatever its outcome: one more attempt, the claim
    given up, the try's answer."""
    return {
        "attempt_count": delivery.attempt_count + 1,
        "scheduled_attempts": scheduled,
        "manual_requested": False,
        "claim_token": None,
        "lease_expires_at": None,
        "last_attempt_at": started_at,
        "last_status_code": status,
        "last_error": error[:ERROR_MAX],
    }


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


_ARRAY_TYPES = ("bigint", "uuid", "boolean", *(kind for _, kind in _STATE_COLUMNS))
_NAMES = ", ".join(name for name, _ in _STATE_COLUMNS)
# One statement text whatever the bulk's size (each column is one array parameter, sent in
# binary), so nothing is quoted into the text per delivery.
# Identifiers come from the model and the constants above; every value is a parameter.
STATES_SQL = (
    f"UPDATE {Delivery._meta.db_table} AS d SET "  # noqa: S608
    + ", ".join(f"{name} = v.{name}" for name, _ in _STATE_COLUMNS if name != "finished_at")
    + ", finished_at = CASE WHEN v.sets_finished THEN v.finished_at ELSE d.finished_at END, "
    "manual_requested = false, claim_token = NULL, lease_expires_at = NULL "
    f"FROM unnest({', '.join(f'%b::{kind}[]' for kind in _ARRAY_TYPES)}) "
    f"AS v(id, token, sets_finished, {_NAMES}) "
    "WHERE d.id = v.id AND d.claim_token = v.token RETURNING d.id"
)


def states_write(rows: list[tuple[int, uuid.UUID | None, dict[str, Any]]]) -> set[int]:
    """Write each delivery's new state (id, claim token, fields) if it still holds that claim;
    returns the ids written. One ``UPDATE … FROM unnest(…)`` on PostgreSQL, row by row
    elsewhere; the claim-token condition is per row either way, so a delivery whose lease was
    taken back meanwhile keeps its newer state."""
    if not rows:
        return set()
    if connection.vendor != "postgresql":
        return {
            pk
            for pk, token, fields in rows
            if Delivery.objects.filter(pk=pk, claim_token=token).update(**fields)
        }
    with bound_cursor() as cursor:
        cursor.execute(STATES_SQL, states_params(rows))
        return {r[0] for r in cursor.fetchall()}


def states_params(rows: list[tuple[int, uuid.UUID | None, dict[str, Any]]]) -> list[list[Any]]:
    """The parameters of ``STATES_SQL`` for ``rows`` (PostgreSQL): one array per column."""
    columns: list[list[Any]] = [[], [], []] + [[] for _ in _STATE_COLUMNS]
    for pk, token, fields in rows:
        values = (pk, token, "finished_at" in fields, *(fields.get(n) for n, _ in _STATE_COLUMNS))
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return columns
