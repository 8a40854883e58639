"""Cursor pagination for every list: ``{"data": [...], "next_cursor": "..." | null}``.

Glue between the query string, ``platform_core.pagination.keyset_page`` and an output
serializer; the keyset logic itself stays in that module.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from platform_core.pagination import DEFAULT_LIMIT, MAX_LIMIT, keyset_page


class PageQuerySerializer(serializers.Serializer):
    """``limit`` and ``cursor``; list endpoints subclass it to add their filters."""

    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT
    )
    cursor = serializers.CharField(required=False, allow_blank=True, max_length=500)


@cache
def paginated(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The page serializer around ``item``, for the OpenAPI document."""
    name = item.__name__.removesuffix("Serializer").removesuffix("Out")
    return type(
        f"{name}PageSerializer",
        (serializers.Serializer,),
        {
            "data": item(many=True),
            "next_cursor": serializers.CharField(
                allow_null=True, help_text="Pass as `cursor` for the next page; null at the end."
            ),
        },
    )


def page_response(
    queryset: QuerySet[Any],
    query: dict[str, Any],
    serializer: type[serializers.Serializer],
    *,
    key: str = "id",
    context: dict[str, Any] | None = None,
) -> Response:
    """One page of ``queryset``, newest first by ``key``, after ``query["cursor"]``."""
    try:
        page = keyset_page(
            queryset, cursor=query.get("cursor") or None, limit=query["limit"], key=key
        )
    except (ValueError, TypeError, DjangoValidationError) as exc:
        # A cursor that decodes but does not fit the key's type ends up here too.
        raise exceptions.ValidationError(
            {"cursor": ["The cursor is not one this API returned for this list."]}
        ) from exc
    data = serializer(page.items, many=True, context=context or {}).data
    return Response({"data": data, "next_cursor": page.next_cursor})
