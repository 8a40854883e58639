"""Refuse NUL characters in the path or query string before any view sees them.

PostgreSQL text cannot hold NUL; without this, a crafted URL reaches the ORM and becomes a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

MESSAGE = "NUL characters are not allowed in URLs."


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.path + "?" + request.META.get("QUERY_STRING", "")
        if "\x00" in raw or "\x00" in unquote(raw):
            if request.path.startswith("/api/"):
                # Every answer under /api/ is JSON: the native shape, or Svix's on its routes.
                from webhooks_platform.svix_api.urls import is_svix_path

                body = (
                    {"code": "bad_request", "detail": MESSAGE}
                    if is_svix_path(request.path)
                    else {"error": {"code": "bad_request", "message": MESSAGE, "fields": {}}}
                )
                return JsonResponse(body, status=400)
            return HttpResponseBadRequest(MESSAGE)
        return self.get_response(request)
