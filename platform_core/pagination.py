"""Keyset (cursor) pagination, newest first, on a unique ordered key.

Pages cost the same at the millionth row as at the first: the cursor carries the last key seen
and the next page is ``WHERE key < cursor ORDER BY key DESC LIMIT n`` on an index.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 250


class InvalidCursor(ValueError):
    pass


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([value]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        (value,) = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise InvalidCursor("cursor is not one this API returned") from exc
    if not isinstance(value, int | str) or (isinstance(value, str) and "\x00" in value):
        # PostgreSQL refuses NUL in a query parameter; no key this API returns holds one.
        raise InvalidCursor("cursor is not one this API returned")
    return value


def clamp_limit(limit: Any, default: int = DEFAULT_LIMIT) -> int:
    if limit in (None, ""):
        return default
    try:
        value = int(limit)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}") from exc
    if not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return value


def keyset_page(
    queryset: QuerySet[Any], *, cursor: str | None, limit: int, key: str = "id"
) -> Page[Any]:
    """One page of ``queryset`` ordered by ``-key``, after ``cursor``."""
    try:
        if cursor:
            queryset = queryset.filter(**{f"{key}__lt": decode_cursor(cursor)})
        rows = list(queryset.order_by(f"-{key}")[: limit + 1])
    except (ValueError, TypeError, ValidationError) as exc:
        # A well-formed cursor of the wrong type (a string where ids are numbers).
        raise InvalidCursor("cursor is not one this API returned") from exc
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(getattr(rows[-1], key)) if more and rows else None
    return Page(items=rows, next_cursor=next_cursor)
