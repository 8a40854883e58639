"""What every view of the Svix-compatible API shares: errors, ids, idempotency, pagination.

Svix's conventions, not the native API's: errors are ``{"code", "detail"}`` and validation is 422
``{"detail": [{"loc", "msg", "type"}]}``; lists are ``{"data", "iterator", "prevIterator",
"done"}``; a POST with an ``Idempotency-Key`` replays its first successful answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import set_rollback

from deliveries.errors import PayloadTooLarge, PublishError
from deliveries.services.publishing import EventExists
from deliveries.services.retention import IDEMPOTENCY_TTL
from endpoints.models import IdempotentResponse, Tenant
from endpoints.services import AlreadyExists
from platform_core.api.views import ApiView
from platform_core.errors import Gone

logger = logging.getLogger(__name__)

MAX_LIMIT = 250
DEFAULT_LIMIT = 50

# Service field names as the Svix API spells them.
FIELD_NAMES = {
    "event_types": "eventTypes",
    "rate_limit": "throttleRate",
    "grace_period_seconds": "gracePeriodSeconds",
    "event_type": "eventType",
    "idempotency_key": "eventId",
    "non_field_errors": "",
}


def camel(name: str) -> str:
    if name in FIELD_NAMES:
        return FIELD_NAMES[name]
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# --- errors ------------------------------------------------------------------------------------


class SvixError(exceptions.APIException):
    """An error with Svix's ``code``: ``SvixError(400, "invalid_range", "...")``."""

    def __init__(self, status_code: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.svix_code = code


class Invalid(Exception):  # noqa: N818  (Svix's 422, named for what the caller sees)
    """A 422: ``errors`` is a list of (loc, msg, type)."""

    def __init__(self, errors: list[tuple[list[str], str, str]]) -> None:
        super().__init__(errors[0][1] if errors else "invalid")
        self.errors = errors


def invalid(where: str, field: str, msg: str, kind: str = "value_error") -> Invalid:
    return Invalid([([where, field] if field else [where], msg, kind)])


def _messages(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [f"{k}: {m}" for k, v in value.items() for m in _messages(v)]
    if isinstance(value, list | tuple):
        return [m for v in value for m in _messages(v)]
    return [str(value)]


def _validation_errors(detail: Any, where: str) -> list[tuple[list[str], str, str]]:
    if isinstance(detail, dict):
        out = []
        for field, value in detail.items():
            loc = [where] + ([camel(str(field))] if camel(str(field)) else [])
            out.extend((loc, msg, "value_error") for msg in _messages(value))
        return out
    return [([where], msg, "value_error") for msg in _messages(detail)]


def _error(status_code: int, code: str, detail: str) -> Response:
    return Response({"code": code, "detail": detail}, status=status_code)


_DRF_CODES = {
    401: "authentication_failed",
    403: "insufficient access",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def svix_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    set_rollback()
    if isinstance(exc, AlreadyExists | EventExists):
        messages = exc.messages if isinstance(exc, DjangoValidationError) else [str(exc)]
        return _error(409, "conflict", " ".join(messages))
    if isinstance(exc, Invalid):
        body = [{"loc": loc, "msg": msg, "type": kind} for loc, msg, kind in exc.errors]
        return Response({"detail": body}, status=422)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return svix_exception_handler(Invalid(_validation_errors(detail, "body")), context)
    if isinstance(exc, exceptions.ValidationError):
        return svix_exception_handler(Invalid(_validation_errors(exc.detail, "body")), context)
    if isinstance(exc, PayloadTooLarge):
        return _error(413, "payload_too_large", str(exc))
    if isinstance(exc, PublishError):
        return svix_exception_handler(invalid("body", "", str(exc)), context)
    if isinstance(exc, exceptions.ParseError):
        return svix_exception_handler(
            invalid("body", "", str(exc.detail), "value_error.jsondecode"), context
        )
    if isinstance(exc, Http404 | Gone):
        exc = exceptions.NotFound()
    if isinstance(exc, SvixError):
        return _error(exc.status_code, exc.svix_code, str(exc.detail))
    if isinstance(exc, exceptions.APIException):
        code = _DRF_CODES.get(exc.status_code, "generic_error")
        detail = "Entity not found" if isinstance(exc, exceptions.NotFound) else str(exc.detail)
        response = _error(exc.status_code, code, detail)
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
        return response
    view = context.get("view")
    logger.exception("Svix API error in %s", view.__class__.__name__ if view else "?")
    return _error(500, "server_error", "Something went wrong on our side; it has been logged.")


@csrf_exempt  # an API path is JSON for every method: never the CSRF failure page
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Unknown paths under the Svix routes answer JSON, as the SDKs expect of every reply."""
    return JsonResponse({"code": "not_found", "detail": "Entity not found"}, status=404)


# --- ids ---------------------------------------------------------------------------------------

_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_LENGTH = 27


def int_id(prefix: str, value: int) -> str:
    """An integer key as a Svix-style id: ``atmpt_`` + 27 characters."""
    chars = []
    while value:
        value, digit = divmod(value, 32)
        chars.append(_B32[digit])
    return prefix + "".join(reversed(chars)).rjust(ID_LENGTH, "0")


def int_from_id(prefix: str, value: str) -> int | None:
    if not value.startswith(prefix) or len(value) != len(prefix) + ID_LENGTH:
        return None
    out = 0
    for char in value[len(prefix) :]:
        digit = _B32.find(char)
        if digit < 0:
            return None
        out = out * 32 + digit
    return out


# --- query values ------------------------------------------------------------------------------


def parse_time(value: str | None, name: str, where: str = "query") -> datetime | None:
    """ISO 8601 as the SDKs send it (``Z``, ``+00:00`` or no offset, which means UTC)."""
    if value in (None, ""):
        return None
    try:
        moment = parse_datetime(str(value).replace(" ", "+"))
    except ValueError:  # well formed, but no such day (2026-02-30)
        moment = None
    if moment is None:
        raise invalid(where, name, f"{value!r} is not an ISO 8601 date and time")
    try:
        # In UTC, as the database compares it: an offset at the calendar's ends overflows.
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        raise invalid(
            where, name, f"{value!r} is outside the years 1 to 9999 once in UTC"
        ) from None


def parse_bool(value: str | None, name: str, default: bool) -> bool:
    if value in (None, ""):
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise invalid("query", name, "Use true or false.")


def parse_limit(value: str | None) -> int:
    if value in (None, ""):
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise invalid("query", "limit", "limit is a whole number") from None
    if limit > MAX_LIMIT:
        raise invalid("query", "limit", f"Given limit must not exceed {MAX_LIMIT}")
    if limit < 1:
        raise invalid("query", "limit", "Given limit must be at least 1")
    return limit


def parse_list(request: Request, name: str) -> list[str]:
    """A list query value, comma-joined (``a,b``) or repeated (``x=a&x=b``, ``x[]=a``)."""
    values = request.query_params.getlist(name) + request.query_params.getlist(f"{name}[]")
    return [part for value in values for part in value.split(",") if part]


# --- pagination --------------------------------------------------------------------------------


def page(
    queryset: QuerySet[Any],
    request: Request,
    serialize: Callable[[Sequence[Any]], list[dict[str, Any]]],
    *,
    key: str,
    descending: bool,
    cursor_of: Callable[[Any], str] = str,
    cursor_value: Callable[[str], Any] = str,
) -> Response:
    """One page: ``iterator`` is the key of the last item, ``prevIterator`` ``-`` + the first's;
    a leading ``-`` reads the other way."""
    limit = parse_limit(request.query_params.get("limit"))
    raw = request.query_params.get("iterator") or ""
    backwards = raw.startswith("-")
    token = raw[1:] if backwards else raw
    forward_desc = descending != backwards
    if token:
        value = cursor_value(token)
        if value is None:
            raise invalid("query", "iterator", "The iterator is not one this list returned.")
        queryset = queryset.filter(**{f"{key}__lt" if forward_desc else f"{key}__gt": value})
    rows = list(queryset.order_by(f"-{key}" if forward_desc else key)[: limit + 1])
    done = len(rows) <= limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    body: dict[str, Any] = {
        "data": serialize(rows),
        "iterator": cursor_of(getattr(rows[-1], key)) if rows else None,
        "done": done,
    }
    if rows:
        body["prevIterator"] = "-" + cursor_of(getattr(rows[0], key))
    return Response(body)


def int_cursor(prefix: str) -> dict[str, Callable[[Any], Any]]:
    return {
        "cursor_of": lambda value: int_id(prefix, value),
        "cursor_value": lambda token: int_from_id(prefix, token),
    }


# --- views -------------------------------------------------------------------------------------


class _Replay(Exception):  # noqa: N818  (control flow, never an error)
    def __init__(self, stored: IdempotentResponse) -> None:
        super().__init__("idempotent replay")
        self.stored = stored


class SvixView(ApiView):
    """A view of the Svix-compatible API."""

    _idempotency_hash: str | None = None
    unknown_fields_allowed = True

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response]:
        return svix_exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        key = request.headers.get("idempotency-key")
        if request.method == "POST" and key:
            material = f"{self.api_key.key_hash}\n{key}\n{request.get_full_path()}"
            self._idempotency_hash = hashlib.sha256(material.encode("utf-8")).hexdigest()
            stored = IdempotentResponse.objects.filter(
                key_hash=self._idempotency_hash,
                created_at__gte=timezone.now() - IDEMPOTENCY_TTL,
            ).first()
            if stored is not None:
                raise _Replay(stored)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            self._idempotency_hash = None
            body = json.loads(exc.stored.body) if exc.stored.body else None
            response = Response(body, status=exc.stored.status)
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if self._idempotency_hash and 200 <= response.status_code < 300:
            data = getattr(response, "data", None)
            body = "" if data is None else json.dumps(data, cls=JSONEncoder)
            try:
                with transaction.atomic():
                    IdempotentResponse.objects.create(
                        key_hash=self._idempotency_hash, status=response.status_code, body=body
                    )
            except IntegrityError:
                # A concurrent duplicate stored its answer first (kept), or an expired answer
                # retention has not removed yet holds the key (replaced).
                IdempotentResponse.objects.filter(
                    key_hash=self._idempotency_hash,
                    created_at__lt=timezone.now() - IDEMPOTENCY_TTL,
                ).update(status=response.status_code, body=body, created_at=timezone.now())
        return response

    def body(self) -> dict[str, Any]:
        data = self.request.data
        if not isinstance(data, dict):
            raise invalid("body", "", "The request body must be a JSON object.")
        return data

    def app(self) -> Tenant:
        """The application (tenant) in the path, by id, uid or slug; another tenant's is 404."""
        found = self.app_if_any()
        if found is None:
            raise exceptions.NotFound()
        return found

    def app_if_any(self) -> Tenant | None:
        """The application in the path, or None when there is none by that key (looked up
        once per request); another tenant's is still a 404."""
        if not hasattr(self, "_app"):
            self._app = app_find(self.kwargs["app"])
        api_key = self.api_key
        if self._app is not None and not api_key.is_platform and self._app.pk != api_key.tenant_id:
            raise exceptions.NotFound()
        return self._app

    def platform_only(self) -> None:
        if not self.api_key.is_platform:
            raise exceptions.PermissionDenied("This operation needs a platform API key.")


def app_find(key: str) -> Tenant | None:
    if not key or "\x00" in key:
        return None
    candidates = Tenant.objects.filter(Q(public_id=key) | Q(uid=key) | Q(slug=key))
    by_kind = {}
    for tenant in candidates[:3]:
        kind = 0 if tenant.public_id == key else 1 if tenant.uid == key else 2
        by_kind.setdefault(kind, tenant)
    return by_kind[min(by_kind)] if by_kind else None
