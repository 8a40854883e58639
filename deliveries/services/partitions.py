"""Attempts partitioned by time on PostgreSQL (docs/operations.md, "Partitioned history").

``deliveries_attempt`` is range-partitioned by ``started_at`` in week-long spans (Monday 00:00 UTC
to Monday); an installation converted in place keeps its old table as the first partition
(``deliveries_attempt_legacy``, from the beginning of time to the conversion's boundary). An
attempt is history that never changes its time, so retention of attempts is a matter of dropping
the partitions whose whole span is older than the retention; nothing is ever moved between
partitions. Deliveries and events, which carry live state, stay unpartitioned and are purged row
by row (deliveries.services.retention).

Everything here is transaction-scoped (``SET LOCAL``, ``pg_advisory_xact_lock``) or a single
autocommit statement (``DETACH ... CONCURRENTLY``), so it works through PgBouncer in transaction
mode. On SQLite, or a PostgreSQL table that is not partitioned, every function is a no-op.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import OperationalError, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

logger = logging.getLogger(__name__)

TABLE = "deliveries_attempt"
LEGACY = f"{TABLE}_legacy"
SPAN = timedelta(days=7)
# Partitions kept ready ahead of now: the scheduler may stop this long before inserts fail.
AHEAD = 8
# Serializes creation and dropping (two beats, a purge and a migration) inside one transaction.
_LOCK_KEY = 0x5041_5254  # "PART"
# How long a drop or detach may wait for a lock (and so hold up the engine) before it gives up.
LOCK_TIMEOUT = "2s"
_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None: MINVALUE (the converted legacy table)
    end: datetime
    detach_pending: bool = False


def span_start(at: datetime) -> datetime:
    """The start of the week-long span holding ``at``."""
    spans = (at - _EPOCH) // SPAN
    return _EPOCH + spans * SPAN


def partition_name(start: datetime) -> str:
    at = start.astimezone(UTC)
    return f"{TABLE}_p{at:%Y%m%d}" if at == span_start(at) else f"{TABLE}_p{at:%Y%m%d_%H%M%S}"


def _gaps(
    start: datetime, end: datetime, existing: list[Partition]
) -> list[tuple[datetime, datetime]]:
    gaps = []
    cursor = start
    covering = [p for p in existing if (p.start is None or p.start < end) and p.end > start]
    for p in sorted(covering, key=lambda p: p.end):
        if p.start is not None and p.start > cursor:
            gaps.append((cursor, p.start))
        cursor = max(cursor, p.end)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


def is_partitioned(conn: BaseDatabaseWrapper | None = None) -> bool:
    conn = conn or connection
    if conn.vendor != "postgresql":
        return False
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid "
            "WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace",
            [TABLE],
        )
        return cursor.fetchone() is not None


def partitions_list(conn: BaseDatabaseWrapper | None = None) -> list[Partition]:
    """The attempt table's partitions, oldest first, with their bounds."""
    conn = conn or connection
    if not is_partitioned(conn):
        return []
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), i.inhdetachpending "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound, pending in rows:
        start, end = _parse_bound(bound)
        found.append(Partition(name=name, start=start, end=end, detach_pending=pending))
    return sorted(found, key=lambda p: p.end)


def _parse_bound(bound: str) -> tuple[datetime | None, datetime]:
    # "FOR VALUES FROM ('2026-12-07 00:00:00+00') TO ('2026-12-14 00:00:00+00')" or MINVALUE
    from_part, to_part = bound.split(" TO ")

    def value(text: str) -> datetime | None:
        inner = text[text.index("(") + 1 : text.rindex(")")].strip()
        if inner.upper() == "MINVALUE":
            return None
        return datetime.fromisoformat(inner.strip("'"))

    end = value(to_part)
    assert end is not None  # noqa: S101  (the layout never has a MAXVALUE bound)
    return value(from_part), end


def _lock(cursor: object, timeout: str = "") -> None:
    """Serialize partition changes; bound how long they may wait for (and so hold up) others.
    Creating a partition locks the parent table too: a creation that cannot get it within the
    timeout is retried by the next run, weeks ahead of need."""
    timeout = timeout or LOCK_TIMEOUT
    cursor.execute("SET LOCAL lock_timeout = %s", [timeout])  # type: ignore[attr-defined]
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])  # type: ignore[attr-defined]


def partitions_ensure(
    *,
    now: datetime | None = None,
    ahead: int = AHEAD,
    behind: timedelta = timedelta(0),
    conn: BaseDatabaseWrapper | None = None,
) -> list[str]:
    """Create the missing week partitions from ``now - behind`` to ``ahead`` spans past now.

    Idempotent: a span already covered (by a partition or the legacy table) is skipped. Returns
    the names created."""
    conn = conn or connection
    if not is_partitioned(conn):
        return []
    now = now or timezone.now()
    created: list[str] = []
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        _lock(cursor)
        existing = partitions_list(conn)
        start = span_start(now - behind)
        last = span_start(now) + ahead * SPAN
        while start <= last:
            end = start + SPAN
            # The parts of the span no partition covers yet (the converted table ends mid-span).
            for lo, hi in _gaps(start, end, existing):
                name = partition_name(lo)
                cursor.execute(
                    f'CREATE TABLE "{name}" PARTITION OF "{TABLE}" '  # noqa: S608
                    "FOR VALUES FROM (%s) TO (%s)",
                    [lo, hi],
                )
                created.append(name)
                existing.append(Partition(name=name, start=lo, end=hi))
            start = end
    if created:
        logger.info("attempt partitions created", extra={"partitions": created})
    return created


def partitions_droppable(cutoff: datetime, conn: BaseDatabaseWrapper | None = None) -> list[str]:
    """Partitions whose whole span is older than ``cutoff`` (and any left half-detached)."""
    return [p.name for p in partitions_list(conn) if p.end <= cutoff or p.detach_pending]


def partitions_left_detached(conn: BaseDatabaseWrapper | None = None) -> list[str]:
    """Week tables detached but not dropped yet (their foreign keys still hold the deliveries
    their attempts point at, so the row-wise purge of deliveries waits for them)."""
    conn = conn or connection
    return _detached_leftovers(conn) if is_partitioned(conn) else []


def _detached_leftovers(conn: BaseDatabaseWrapper) -> list[str]:
    """Week tables detached by an earlier run whose drop did not finish (they hold nothing
    anyone reads any more: the parent no longer routes to them)."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
            "AND c.relnamespace = current_schema()::regnamespace "
            "AND (c.relname ~ %s OR c.relname = %s) AND NOT c.relispartition",
            [f"^{TABLE}_p[0-9]", LEGACY],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _lock_referenced(cursor: object, name: str) -> None:
    """Lock what the week table's foreign keys point at (the delivery and endpoint tables),
    before the table itself. Dropping or detaching it removes or rewrites those keys' triggers,
    which takes ACCESS EXCLUSIVE (drop) or SHARE ROW EXCLUSIVE (detach) on the referenced
    tables; taking them first, in one order, means no deadlock with a transaction that holds
    a delivery row and checks its deferred keys at commit. The wait is bounded by the lock
    timeout: the engine pauses for at most that long, once a week."""
    cursor.execute(  # type: ignore[attr-defined]
        "SELECT DISTINCT confrelid::regclass::text FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY 1",
        [name],
    )
    referenced = [row[0] for row in cursor.fetchall()]  # type: ignore[attr-defined]
    if referenced:
        cursor.execute(  # type: ignore[attr-defined]
            f"LOCK TABLE {', '.join(referenced)} IN ACCESS EXCLUSIVE MODE"
        )


DROP_TRIES = 3


def _drop(conn: BaseDatabaseWrapper, name: str) -> bool:
    """Drop a detached week table (referenced tables locked first, see ``_lock_referenced``).
    After ``DROP_TRIES`` lock timeouts the table is left for the next run."""
    for _ in range(DROP_TRIES):
        try:
            with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
                _lock(cursor)
                _lock_referenced(cursor, name)
                cursor.execute(f'LOCK TABLE "{name}" IN ACCESS EXCLUSIVE MODE')
                cursor.execute(f'DROP TABLE "{name}"')
        except OperationalError:
            continue
        return True
    logger.warning("attempt partition not dropped yet; next run", extra={"table": name})
    return False


def partitions_drop_older_than(
    cutoff: datetime, *, conn: BaseDatabaseWrapper | None = None
) -> list[str]:
    """Detach and drop every attempt partition wholly older than ``cutoff``.

    Outside a transaction the detach is ``CONCURRENTLY`` (it never blocks the engine's inserts);
    inside one (tests, a caller's atomic block) it is a plain detach under a short lock timeout.
    A detach interrupted half-way, or a drop that timed out, is finished on the next run."""
    conn = conn or connection
    if not is_partitioned(conn):
        return []
    dropped = [name for name in _detached_leftovers(conn) if _drop(conn, name)]
    for p in partitions_list(conn):
        if not (p.end <= cutoff or p.detach_pending):
            continue
        if p.detach_pending:
            with conn.cursor() as cursor:
                cursor.execute(f'ALTER TABLE "{TABLE}" DETACH PARTITION "{p.name}" FINALIZE')
        elif conn.in_atomic_block:
            with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
                _lock(cursor)
                _lock_referenced(cursor, p.name)
                cursor.execute(f'LOCK TABLE "{TABLE}" IN ACCESS EXCLUSIVE MODE')
                cursor.execute(f'ALTER TABLE "{TABLE}" DETACH PARTITION "{p.name}"')
        else:
            with conn.cursor() as cursor:
                cursor.execute(f'ALTER TABLE "{TABLE}" DETACH PARTITION "{p.name}" CONCURRENTLY')
        if _drop(conn, p.name):
            dropped.append(p.name)
    if dropped:
        logger.info("attempt partitions dropped", extra={"partitions": dropped})
    return dropped
