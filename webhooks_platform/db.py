"""Small database helpers shared by the services."""

from __future__ import annotations

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
    Django's transaction state applies as to its own cursors, and errors arrive as Django's."""
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor
