"""The attempt row of a finished try, and writing a bulk of them."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection

from deliveries import transport
from deliveries.models import Attempt, Delivery

from .flight import Flight
from .state import ERROR_MAX, stored_body

# The columns of an attempt row, in the order ``attempt_row`` builds them.
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
# Their PostgreSQL types, for ``ATTEMPTS_SQL``'s arrays (JSON travels as text, cast on insert).
_ATTEMPT_TYPES = (
    "bigint",
    "varchar",
    "integer",
    "varchar",
    "timestamptz",
    "integer",
    "varchar",
    "text",
    "integer",
    "text",
    "text",
    "varchar",
    "varchar",
    "varchar",
    "integer",
)
# A bulk of attempt rows in one INSERT of one array per column (PostgreSQL), for a statement
# that cannot be a COPY (``pipelined``): only those whose delivery still exists, locked so that
# a delete waits for the attempt (as ``record._deleted`` locks them); returns their deliveries.
# Identifiers come from the model and the constants above; every value is a parameter.
_SELECTED = ", ".join(
    f"v.{name}::jsonb" if i in _JSON_COLUMNS else f"v.{name}"
    for i, name in enumerate(_ATTEMPT_COLUMNS)
)
_ARRAYS = ", ".join(f"%b::{kind}[]" for kind in _ATTEMPT_TYPES)
ATTEMPTS_SQL = (
    f"INSERT INTO {Attempt._meta.db_table} ({', '.join(_ATTEMPT_COLUMNS)}) "  # noqa: S608
    f"SELECT {_SELECTED} FROM unnest({_ARRAYS}) AS v({', '.join(_ATTEMPT_COLUMNS)}) "
    f"WHERE EXISTS (SELECT 1 FROM {Delivery._meta.db_table} AS d "
    "WHERE d.id = v.delivery_id FOR KEY SHARE) RETURNING delivery_id"
)


def attempt_row(flight: Flight, result: transport.AttemptResult, number: int) -> tuple[Any, ...]:
    """The attempt row of ``flight``'s try, its ``number``-th. A try its transformation
    cancelled sent nothing: no headers, no answer, the reason as its error."""
    claimed = flight.claimed
    if flight.cancelled:
        sent: dict[str, str] = {}
        status, answer_headers, error = 0, {}, flight.cancelled
        body, encoding = "", Attempt.BodyEncoding.UTF8
    else:
        sent = flight.headers
        status, answer_headers, error = result.status, result.response_headers, result.error
        body, encoding = stored_body(result.response_body)
    return (
        claimed.id,
        claimed.endpoint_id,
        number,
        Attempt.Trigger.MANUAL if claimed.manual_requested else Attempt.Trigger.SCHEDULED,
        result.started_at,
        result.duration_ms,
        flight.url,
        sent,
        status,
        answer_headers,
        body,
        encoding,
        error[:ERROR_MAX],
        flight.method,
        flight.transformation_version,
    )


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


def attempts_params(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """The parameters of ``ATTEMPTS_SQL`` for ``rows``: one array per column."""
    return [
        [json.dumps(row[i]) for row in rows]
        if i in _JSON_COLUMNS
        else [str(row[i]) if i in (3, 11) else row[i] for row in rows]
        for i in range(len(_ATTEMPT_COLUMNS))
    ]
