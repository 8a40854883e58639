"""Refuse NUL characters in the path or query string before any view sees them.

PostgreSQL text cannot hold NUL; without this, a crafted URL reaches the ORM and becomes a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.path + "?" + request.META.get("QUERY_STRING", "")
        if "\x00" in raw or "\x00" in unquote(raw):
            return HttpResponseBadRequest("NUL characters are not allowed in URLs.")
        return self.get_response(request)
