"""Small database helpers shared by the services."""

from __future__ import annotations

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
