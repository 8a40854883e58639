"""An ordered endpoint's success recorded in one round trip (PostgreSQL).

The ordered recorder's bulks are successes whose next delivery goes out as soon as they are
recorded, so each round trip of its record is paid once per delivery of the endpoint. Recorded
statement by statement (``record``), the transaction's BEGIN, its four statements (the states,
the attempts, the endpoints' locks, the release) and its COMMIT wait for each other's answers
(six round trips, the COPY of the attempts two): here they go out together in psycopg's
pipeline mode and are answered together. Still four statements, in that order, each with its
own snapshot: the release's is taken once the locks are held, as ``deliveries.ordering``
requires. Nothing is left in the session (no prepared statement, nothing set), and a failure
rolls the transaction back before the error is raised.

Only a bulk where nothing else is to be written qualifies (``pipelined_applies``): every try an
ordered endpoint's success with its next delivery's room reserved, no endpoint health to
write. Each endpoint's release goes out before its head's state is known to be written; the
release is as safe either way (under the endpoint's lock it releases only when nothing of the
endpoint is pending or sending, and never past an earlier event still to be fanned out), so a
head whose lease was taken back meanwhile (still pending or sending) releases nothing.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack, suppress
from datetime import datetime
from typing import Any

from django.db import connection

from deliveries import policy, transport
from deliveries.ordering import ordered_release_statements

from .attempts import ATTEMPTS_SQL, attempts_params
from .effects import Effects
from .flight import Flight
from .handover import Adopted
from .health import EndpointTally
from .ordered import ordered_adopted, ordered_claims
from .state import STATES_SQL, states_params

logger = logging.getLogger(__name__)

Decisions = list[tuple[Flight, transport.AttemptResult, policy.Decision]]


def pipelined_applies(
    decisions: Decisions, *, cancelled: list[Flight], tally: EndpointTally
) -> bool:
    """Whether the bulk is ordered endpoints' successes only, each with its next delivery's
    room reserved, and nothing of their health to write (PostgreSQL with pipeline mode)."""
    if connection.vendor != "postgresql" or cancelled or not decisions:
        return False
    # The transaction is this module's own, begun and committed in the pipeline: not inside
    # another one (Django's would commit, or roll back to a savepoint, on its own).
    if connection.in_atomic_block or not connection.get_autocommit():
        return False
    if tally.recovered or tally.failures or tally.gone:
        return False
    if not all(
        flight.ordered
        and flight.handover is not None
        and decision.outcome is policy.Outcome.SUCCEEDED
        for flight, _, decision in decisions
    ):
        return False
    import psycopg

    return psycopg.Pipeline.is_supported()


def ordered_record_pipelined(
    rows: list[tuple[int, Any, dict[str, Any]]],
    attempts: list[tuple[Any, ...]],
    decisions: Decisions,
    *,
    now: datetime,
    effects: Effects,
) -> tuple[set[int], set[int], list[Adopted]]:
    """The states, the attempts and the release of ``decisions`` (``pipelined_applies``) in a
    transaction of their own: one round trip, its commit included. Returns the deliveries whose
    state was written, those deleted meanwhile (their attempts dropped) and what was released
    claimed."""
    import psycopg

    finished_ordered = {flight.claimed.endpoint_id: flight.handover for flight, _, _ in decisions}
    locks, release = ordered_release_statements(
        sorted(finished_ordered), now=now, claims=ordered_claims(finished_ordered)
    )
    statements = [
        (STATES_SQL, states_params(rows)),
        (ATTEMPTS_SQL, attempts_params(attempts)),
        locks,
        release,
    ]
    connection.ensure_connection()
    raw = connection.connection
    start = time.monotonic()
    with connection.wrap_database_errors:
        try:
            with ExitStack() as stack, raw.pipeline():
                cursors = [stack.enter_context(psycopg.Cursor(raw)) for _ in range(5)]
                cursors[4].execute("BEGIN")
                for cursor, (sql, params) in zip(cursors, statements, strict=False):
                    cursor.execute(sql, params)
                cursors[4].execute("COMMIT")
                # Nothing was waited for yet: the first fetch sends the transaction and its
                # commit, and waits for every answer at once.
                kept = {r[0] for r in cursors[0].fetchall()}
                inserted = {r[0] for r in cursors[1].fetchall()}
                released = sorted(cursors[3].fetchall())
        except BaseException:
            # The error raised is the statement's, not a lost connection's on the way back.
            if raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                with suppress(Exception):
                    raw.rollback()
            raise
    if connection.queries_logged:
        took = f"{time.monotonic() - start:.3f}"
        for sql, _ in statements:
            connection.queries_log.append({"sql": sql, "time": took})
    deleted = {pk for pk, _, _ in rows} - inserted
    if deleted:
        logger.warning(
            "attempts of deleted deliveries dropped", extra={"delivery_ids": sorted(deleted)}
        )
    return kept, deleted, ordered_adopted(released, finished_ordered, effects=effects)
