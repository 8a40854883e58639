"""Requests refused before any view sees them, answered in the shape their path expects.

- ``RejectNulMiddleware``: NUL characters in the path or query string. PostgreSQL text cannot
  hold NUL; without this, a crafted URL reaches the ORM and becomes a 500.
- ``ChunkedBody``: a WSGI wrapper for request bodies sent with ``Transfer-Encoding: chunked``
  and no ``Content-Length``. Django reads ``Content-Length`` bytes of a body, so such a body
  read as empty (a publish answered "payload is required"). Where the server has decoded the
  chunks (gunicorn says so with ``wsgi.input_terminated``), the body is read up to
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` and handed on with its length; larger is a 413, and a server
  that cannot decode chunks gets a 411, never a silently empty body.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

MESSAGE = "NUL characters are not allowed in URLs."


def api_error_body(path: str, code: str, message: str) -> dict[str, Any]:
    """The one error shape of an API path: the native one, or Svix's on its routes."""
    from webhooks_platform.svix_api.urls import is_svix_path

    if is_svix_path(path):
        return {"code": code, "detail": message}
    return {"error": {"code": code, "message": message, "fields": {}}}


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.path + "?" + request.META.get("QUERY_STRING", "")
        if "\x00" in raw or "\x00" in unquote(raw):
            if request.path.startswith("/api/"):
                # Every answer under /api/ is JSON.
                body = api_error_body(request.path, "bad_request", MESSAGE)
                return JsonResponse(body, status=400)
            return HttpResponseBadRequest(MESSAGE)
        return self.get_response(request)


StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ChunkedBody:
    """Give a chunked request body its length before Django reads it (see the module)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            if not environ.get("wsgi.input_terminated"):
                return _refuse(
                    environ,
                    start_response,
                    411,
                    "length_required",
                    "Send the body with a Content-Length header.",
                )
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
            body = environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return _refuse(
                    environ,
                    start_response,
                    413,
                    "payload_too_large",
                    f"The request body is larger than {limit} bytes.",
                )
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


_REASONS = {411: "Length Required", 413: "Content Too Large"}


def _refuse(
    environ: dict[str, Any], start_response: StartResponse, status: int, code: str, message: str
) -> list[bytes]:
    path = environ.get("PATH_INFO", "")
    if path.startswith("/api/"):
        body = json.dumps(api_error_body(path, code, message)).encode()
        kind = "application/json"
    else:
        body, kind = message.encode(), "text/plain; charset=utf-8"
    start_response(
        f"{status} {_REASONS[status]}",
        [("Content-Type", kind), ("Content-Length", str(len(body))), ("Connection", "close")],
    )
    return [body]
