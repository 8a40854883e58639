"""Who may call what: any live key, or only platform keys."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from endpoints.models import ApiKey


def request_api_key(request: Request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


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
