"""The dashboard's helpers that know no app: the support console's guard and a service's
``ValidationError`` as messages. Which tenant a visitor acts for is ``endpoints.dashboard``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse


def staff_view(fn: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Support console pages: anonymous visitors go to the login page, non-staff get 403."""

    @functools.wraps(fn)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("The support console is for staff.")
        return fn(request, *args, **kwargs)

    return wrapper


def validation_messages(exc: ValidationError) -> dict[str | None, list[str]]:
    """A service's ValidationError as field -> messages (None for errors not tied to a field)."""
    if hasattr(exc, "error_dict"):
        return {key: list(msgs) for key, msgs in exc.message_dict.items()}
    return {None: list(exc.messages)}


def flat_message(exc: ValidationError) -> str:
    return " ".join(m for msgs in validation_messages(exc).values() for m in msgs)
