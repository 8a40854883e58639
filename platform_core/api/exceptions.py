"""The one error shape: ``{"error": {"code": ..., "message": ..., "fields": {...}}}``.

Services raise Django's ``ValidationError`` (with a ``message_dict`` naming fields) or an
``InputRejected`` (``platform_core.errors``; ``deliveries.PublishError`` is one): both are
the caller's mistake and answer 400 ``validation_error``, as DRF's own serializer errors do, so
a client handles one status for every rejected input.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from platform_core.errors import Gone, InputRejected, InputTooLarge

logger = logging.getLogger(__name__)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is too large."


def _flatten(detail: Any) -> Any:
    """DRF's ErrorDetail tree as plain strings, lists and dicts."""
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


def _first_messages(fields: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for name, value in fields.items():
        label = f"{prefix}{name}"
        while isinstance(value, list) and value and isinstance(value[0], list | dict):
            value = value[0]
        if isinstance(value, dict):
            out.extend(_first_messages(value, prefix=f"{label}."))
        elif isinstance(value, list) and value:
            out.append(f"{label}: {value[0]}")
        else:
            out.append(f"{label}: {value}")
    return out


def _validation_error(detail: Any) -> tuple[str, dict[str, Any]]:
    flat = _flatten(detail)
    if isinstance(flat, dict):
        non_field = flat.pop("non_field_errors", None)
        messages = list(non_field or []) + _first_messages(flat)
        return "; ".join(messages) or "The request is not valid.", flat
    if isinstance(flat, list):
        return " ".join(flat) or "The request is not valid.", {}
    return str(flat), {}


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def validation_error_body(detail: Any) -> dict[str, Any]:
    """The one error shape for DRF validation ``detail`` (a serializer's ``errors``)."""
    message, fields = _validation_error(detail)
    return error_body("validation_error", message, fields)


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return exceptions.ValidationError(exc.message_dict)
        return exceptions.ValidationError({"non_field_errors": exc.messages})
    if isinstance(exc, InputTooLarge):
        return PayloadTooLarge(str(exc))
    if isinstance(exc, InputRejected):
        return exceptions.ValidationError({"non_field_errors": [str(exc)]})
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, Http404 | Gone):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    return exc


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    exc = _translate(exc)
    if not isinstance(exc, exceptions.APIException):
        # Logged with the view's name only: request headers would carry the API key.
        view = context.get("view")
        logger.exception("API error in %s", view.__class__.__name__ if view else "?")
        set_rollback()
        return Response(
            error_body("server_error", "Something went wrong on our side; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    if isinstance(exc, exceptions.ValidationError):
        body = validation_error_body(exc.detail)
    else:
        code = exc.get_codes() if isinstance(exc.detail, str) else exc.default_code
        body = error_body(str(code), str(exc.detail))
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)
