"""Who may call what: any live key, or only platform keys.

An API key is ``request.auth`` when it is of a type registered with ``api_key_type_register``:
the endpoints app's ``ApiKey``, registered by the project at start-up
(``webhooks_platform.apps``), since this package imports no app. Until one is registered no
request has a key, so every permission here refuses.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

_api_key_types: tuple[type, ...] = ()


def api_key_type_register(api_key_type: type) -> None:
    """Count ``request.auth`` of this type as the request's API key."""
    global _api_key_types  # noqa: PLW0603  (set once, at start-up)
    if api_key_type not in _api_key_types:
        _api_key_types = (*_api_key_types, api_key_type)


def request_api_key(request: Request) -> Any | None:
    """The request's API key (an ``endpoints.models.ApiKey``), None without one."""
    return request.auth if isinstance(request.auth, _api_key_types) else None


class HasApiKey(BasePermission):
    message = "An API key is required."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request_api_key(request) is not None


class IsPlatformKey(BasePermission):
    message = "This operation needs a platform API key; tenant keys cannot use it."

    def has_permission(self, request: Request, view: Any) -> bool:
        api_key = request_api_key(request)
        return api_key is not None and api_key.is_platform


class PlatformKeyForWrites(BasePermission):
    """Reads for every key, writes for platform keys (the event-type catalogue is global)."""

    message = IsPlatformKey.message

    def has_permission(self, request: Request, view: Any) -> bool:
        api_key = request_api_key(request)
        if api_key is None:
            return False
        return request.method in ("GET", "HEAD", "OPTIONS") or api_key.is_platform
