"""Finding due work and claiming it: one statement each, plain rows back.

``discover`` lists the endpoints that have pending deliveries and when the earliest is due (a
loose index scan over ``delivery_endpoint_due_idx``: one index probe per endpoint, whatever the
backlog). ``claim`` takes up to n due deliveries of each endpoint asked for, oldest first, under
one claim token and lease, and returns them joined to their event's body. On PostgreSQL it is a
single ``UPDATE … FROM (… LATERAL (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)) … RETURNING``, so
workers claiming at the same time take disjoint rows without waiting for each other. SQLite
serialises writers and has no row locks: there it is one ``UPDATE … RETURNING`` and one read of
the bodies.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils.dateparse import parse_datetime

from deliveries.models import Delivery, Event
from platform_core.db import bound_cursor


@dataclass(slots=True)
class Claimed:
    """A delivery this worker holds under ``claim_token``: what sending and recording need."""

    id: int
    endpoint_id: str
    event_id: str
    tenant_id: int
    attempt_count: int
    scheduled_attempts: int
    manual_requested: bool
    claim_token: uuid.UUID
    body: str = ""
    event_created_at: datetime | None = None
    # The event is on the Svix message format: svix-* signature headers, not webhook-*.
    svix_format: bool = False
    test: bool = False  # a test event: the request says so (x-webhook-test)
    event_type_id: int | None = None  # named by GitHub-style requests (X-GitHub-Event)
    # What its endpoint's transformation made of it (``Delivery.transformed``), or None.
    transformed: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Want:
    """Claim up to ``count`` due deliveries of ``endpoint_id`` (only manual ones if asked)."""

    endpoint_id: str
    count: int
    manual_only: bool = False
    probe_at: datetime | None = None  # the circuit's probe, taken at this time (gate.probe_take)


_DELIVERIES = Delivery._meta.db_table
_EVENTS = Event._meta.db_table


def _db_value(field_name: str, value: Any) -> Any:
    return Delivery._meta.get_field(field_name).get_db_prep_value(value, connection)


def _aware(value: Any) -> datetime | None:
    moment = value if value is None or isinstance(value, datetime) else parse_datetime(str(value))
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


_DISCOVER = f"""
WITH RECURSIVE e(id) AS (
    SELECT MIN(endpoint_id) FROM {_DELIVERIES} WHERE status = 'pending'
    UNION ALL
    SELECT (SELECT MIN(d.endpoint_id) FROM {_DELIVERIES} d
            WHERE d.status = 'pending' AND d.endpoint_id > e.id)
    FROM e WHERE e.id IS NOT NULL
)
SELECT e.id, (SELECT MIN(d.next_attempt_at) FROM {_DELIVERIES} d
              WHERE d.status = 'pending' AND d.endpoint_id = e.id)
FROM e WHERE e.id IS NOT NULL
"""  # noqa: S608  (table names from the models)


def discover() -> dict[str, datetime | None]:
    """Endpoint id → when its earliest pending delivery is due (None: now)."""
    with connection.cursor() as cursor:
        cursor.execute(_DISCOVER)
        return {endpoint_id: _aware(due) for endpoint_id, due in cursor.fetchall()}


_RETURNED = (
    "id, endpoint_id, event_id, tenant_id, attempt_count, scheduled_attempts, manual_requested, "
    "event_type_id, transformed"
)


def _claimed(
    row: Sequence[Any],
    token: uuid.UUID,
    *,
    body: str,
    created: datetime | None,
    svix_format: bool = False,
    test: bool = False,
    transformed: Any = None,
) -> Claimed:
    """A claimed delivery from a row that starts with the ``_RETURNED`` columns."""
    return Claimed(
        id=row[0],
        endpoint_id=row[1],
        event_id=row[2],
        tenant_id=row[3],
        attempt_count=row[4],
        scheduled_attempts=row[5],
        manual_requested=bool(row[6]),
        event_type_id=row[7],
        claim_token=token,
        body=body,
        event_created_at=created,
        svix_format=bool(svix_format),
        test=bool(test),
        transformed=json.loads(transformed) if isinstance(transformed, str) else transformed,
    )


def claim(
    wants: Sequence[Want],
    *,
    now: datetime,
    lease_until: datetime,
    token: uuid.UUID,
    limit: int | None = None,
) -> list[Claimed]:
    """Claim what ``wants`` asks for, ``limit`` at most in all (endpoints earlier in ``wants``
    first); returns the claimed deliveries, oldest first per endpoint."""
    wants = [w for w in wants if w.count > 0]
    if not wants:
        return []
    total = limit if limit is not None else sum(w.count for w in wants)
    if connection.vendor == "postgresql":
        return _claim_postgresql(wants, now=now, lease_until=lease_until, token=token, limit=total)
    return _claim_serialised(wants, now=now, lease_until=lease_until, token=token, limit=total)


# One statement text for every claim (the wants are three array parameters, sent in binary):
# nothing is quoted into the text per endpoint. Identifiers come from the models; every value
# is a parameter.
_CLAIM_SQL = f"""
UPDATE {_DELIVERIES} AS d
SET status = 'sending', claim_token = %b, lease_expires_at = %b, dispatched_until = NULL
FROM (
    SELECT x.id FROM unnest(%b::varchar[], %b::integer[], %b::boolean[])
        AS w(endpoint_id, n, manual_only)
    CROSS JOIN LATERAL (
        SELECT c.id FROM {_DELIVERIES} AS c
        WHERE c.endpoint_id = w.endpoint_id AND c.status = 'pending'
          AND c.next_attempt_at <= %b AND (c.manual_requested OR NOT w.manual_only)
        ORDER BY c.next_attempt_at, c.id
        LIMIT w.n
        FOR UPDATE SKIP LOCKED
    ) AS x
    LIMIT %b
) AS picked, {_EVENTS} AS ev
WHERE d.id = picked.id AND ev.id = d.event_id
RETURNING d.id, d.endpoint_id, d.event_id, d.tenant_id, d.attempt_count,
          d.scheduled_attempts, d.manual_requested, d.event_type_id, ev.body, ev.created_at,
          ev.body_is_payload, ev.is_test, d.transformed
"""  # noqa: S608


def _claim_postgresql(
    wants: Sequence[Want], *, now: datetime, lease_until: datetime, token: uuid.UUID, limit: int
) -> list[Claimed]:
    params = [
        token,
        lease_until,
        [w.endpoint_id for w in wants],
        [w.count for w in wants],
        [w.manual_only for w in wants],
        now,
        limit,
    ]
    with bound_cursor() as cursor:
        cursor.execute(_CLAIM_SQL, params)
        rows = cursor.fetchall()
    claimed = [
        _claimed(
            r, token, body=r[8], created=r[9], svix_format=r[10], test=r[11], transformed=r[12]
        )
        for r in rows
    ]
    claimed.sort(key=lambda c: c.id)
    return claimed


def _claim_serialised(
    wants: Sequence[Want], *, now: datetime, lease_until: datetime, token: uuid.UUID, limit: int
) -> list[Claimed]:
    due = _db_value("next_attempt_at", now)
    parts: list[str] = []
    params: list[Any] = [
        _db_value("claim_token", token),
        _db_value("lease_expires_at", lease_until),
    ]
    for want in wants:
        manual = " AND manual_requested" if want.manual_only else ""
        parts.append(
            f"SELECT id FROM (SELECT id FROM {_DELIVERIES} WHERE endpoint_id = %s "  # noqa: S608
            f"AND status = 'pending' AND next_attempt_at <= %s{manual} "
            "ORDER BY next_attempt_at, id LIMIT %s)"
        )
        params += [want.endpoint_id, due, want.count]
    sql = (
        f"UPDATE {_DELIVERIES} SET status = 'sending', claim_token = %s, "  # noqa: S608
        f"lease_expires_at = %s, dispatched_until = NULL WHERE id IN "
        f"(SELECT id FROM ({' UNION ALL '.join(parts)}) LIMIT %s) RETURNING {_RETURNED}"
    )
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return []
    events = {
        pk: (body, created, svix, test)
        for pk, body, created, svix, test in Event.objects.filter(
            id__in={r[2] for r in rows}
        ).values_list("id", "body", "created_at", "body_is_payload", "is_test")
    }
    claimed = []
    for r in sorted(rows):
        body, created, svix, test = events.get(r[2], ("", None, False, False))
        claimed.append(
            _claimed(
                r, token, body=body, created=created, svix_format=svix, test=test, transformed=r[8]
            )
        )
    return claimed


def claimed_released(row: Sequence[Any], token: uuid.UUID) -> Claimed:
    """An ordered endpoint's next delivery, released already claimed under ``token`` by the
    recorder's statement (``deliveries.ordering.ordered_release_rows``; its columns start as
    the claim's do)."""
    return _claimed(
        row, token, body=row[8], created=_aware(row[9]), svix_format=row[10], test=row[11]
    )
