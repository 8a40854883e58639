"""Small database helpers shared by the services."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.db.models import QuerySet


def skip_locked(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Rows another transaction holds are skipped (``FOR UPDATE SKIP LOCKED``) on PostgreSQL, so
    concurrent sweepers, drains and purges take disjoint rows. SQLite serialises writers anyway,
    and has no row locks: the queryset is returned unchanged there."""
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    return queryset


@contextmanager
def bound_cursor() -> Iterator[Any]:
    """A cursor on Django's PostgreSQL connection that binds parameters on the server: write
    ``%b`` for a parameter sent in binary. For the engine's bulk statements, whose parameters
    are arrays of a few hundred values: Django's cursor quotes every element into the SQL text
    in Python (about 10 µs a value), in binary they cost a quarter of that and the server
    parses a fixed text. No prepared statements (Django leaves them off for connection poolers),
    Django's transaction state applies as to its own cursors, errors arrive as Django's, and
    while Django logs queries (``DEBUG``, ``CaptureQueriesContext``) the statements are logged
    as its own are."""
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield _Logged(cursor) if connection.queries_logged else cursor


class _Logged:
    """A psycopg cursor whose statements go into Django's query log, as its debug cursor's do."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def execute(self, query: str, params: Any = None) -> Any:
        start = time.monotonic()
        try:
            return self._cursor.execute(query, params)
        finally:
            connection.queries_log.append({"sql": query, "time": f"{time.monotonic() - start:.3f}"})
