"""Base classes for the API's views."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.views import APIView

from .exceptions import PayloadTooLarge
from .permissions import request_api_key
from .serializers import ErrorSerializer

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; `fields` names what."),
    401: OpenApiResponse(ErrorSerializer, description="No API key, or one not valid."),
    403: OpenApiResponse(ErrorSerializer, description="A tenant key on a platform route."),
    404: OpenApiResponse(ErrorSerializer, description="Not found (or another tenant's)."),
    410: OpenApiResponse(
        ErrorSerializer,
        description="The cursor points at what retention removed; resume at "
        "`fields.oldest_cursor`.",
    ),
}


def responses(ok: dict[int, Any], *errors: int) -> dict[int, Any]:
    """Success responses plus the standard error responses with the given statuses."""
    return {**ok, **{code: ERRORS[code] for code in (401, *errors)}}


class ApiView(APIView):
    # The native API refuses fields it does not know; the Svix-compatible one ignores them, as
    # Svix does, so newer SDKs keep working.
    unknown_fields_allowed = False
    # Why read-only keys may not make even this view's GET (403), when they may not: a read
    # that writes (a named consumer's moves and creates it), or one that hands out a secret.
    read_only_refused = ""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # DRF parses straight from the socket, bypassing DATA_UPLOAD_MAX_MEMORY_SIZE.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise PayloadTooLarge(
                f"The request body is {length} bytes; the limit is "
                f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
            )
        # PostgreSQL rejects NUL in a query parameter; no id or slug can contain one.
        if any("\x00" in str(value) for value in kwargs.values()):
            raise exceptions.NotFound()
        super().initial(request, *args, **kwargs)
        key = request_api_key(request)
        if key is not None and key.read_only:
            if request.method not in SAFE_METHODS:
                raise exceptions.PermissionDenied("This API key is read-only.")
            if self.read_only_refused:
                raise exceptions.PermissionDenied(
                    f"This API key is read-only: {self.read_only_refused}"
                )

    @property
    def api_key(self) -> Any:
        """The request's key (an ``endpoints.models.ApiKey``); 401 without one."""
        api_key = request_api_key(self.request)
        if api_key is None:  # permissions have run; this is a programming error
            raise exceptions.NotAuthenticated()
        return api_key

    def parse(
        self, serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any
    ) -> dict[str, Any]:
        """Validated input; invalid input raises the 400 of the one error shape."""
        if not isinstance(data, dict):
            # A JSON array, string or number where an object was expected.
            raise exceptions.ValidationError(
                {"non_field_errors": ["The request body must be a JSON object."]}
            )
        serializer = serializer_class(data=data, **kwargs)
        if not self.unknown_fields_allowed:
            unknown = unknown_fields(serializer, data)
            if unknown:
                # Ignoring them would answer 200 to {"secret": ...} and change nothing.
                raise exceptions.ValidationError(unknown)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def parse_query(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        """The query string, checked by ``serializer_class``: its fields are the parameters
        the view accepts (a list's filters plus ``limit`` and ``cursor``); any other is a 400,
        as ``?event=`` where the filter is ``event_type`` would otherwise list everything."""
        serializer = serializer_class(data=self.request.query_params)
        if not self.unknown_fields_allowed:
            accepted = sorted(serializer.fields)
            unknown = sorted(set(self.request.query_params) - set(accepted))
            if unknown:
                message = (
                    f"Unknown query parameter; this list takes {', '.join(accepted)}."
                    if accepted
                    else "Unknown query parameter; this list takes none."
                )
                raise exceptions.ValidationError({name: [message] for name in unknown})
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


UNKNOWN_FIELD = "Unknown field; see the API reference."


def unknown_fields(serializer: serializers.Serializer, data: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``data`` that ``serializer`` does not know, in nested objects and lists of
    objects too, as DRF shapes errors: ``{"portal": {"colour": [...]}}``."""
    errors: dict[str, Any] = {}
    fields = serializer.fields
    for name, value in data.items():
        field = fields.get(name)
        if field is None:
            errors[name] = [UNKNOWN_FIELD]
        elif isinstance(field, serializers.ListSerializer) and isinstance(value, list):
            child = field.child
            nested = {
                str(index): found
                for index, item in enumerate(value)
                if isinstance(child, serializers.Serializer)
                and isinstance(item, dict)
                and (found := unknown_fields(child, item))
            }
            if nested:
                errors[name] = nested
        elif isinstance(field, serializers.Serializer) and isinstance(value, dict):
            nested = unknown_fields(field, value)
            if nested:
                errors[name] = nested
    return errors
