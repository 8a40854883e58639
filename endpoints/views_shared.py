"""What the dashboard's views share across both apps (``deliveries``' views use it too: shared
view code lives here, below them, as ``endpoints`` never imports ``deliveries``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import is_ratelimited

from endpoints.dashboard import audit
from platform_core.dashboard import flat_message

from .models import Tenant


def action_done(
    request: HttpRequest,
    then: HttpResponse,
    *,
    message: str,
    action: str,
    tenant: Tenant,
    target: Any,
    details: dict[str, Any] | None = None,
) -> HttpResponse:
    """A manual action that went through: audited, said in a success message, then ``then``
    (a redirect)."""
    audit(request, action=action, tenant=tenant, target=target, details=details)
    messages.success(request, message)
    return then


def action_refused(request: HttpRequest, exc: ValidationError, then: HttpResponse) -> HttpResponse:
    """A manual action the service refused: its reasons as an error message, then ``then``."""
    messages.error(request, flat_message(exc))
    return then


@dataclass(frozen=True)
class RunLimit:
    """A costly run (a filter test, a transformation run) counted per tenant, ``limit`` a minute
    (0: no limit). ``ran`` says what was done ("tested filters"); ``template`` is the page that
    shows the refusal."""

    group: str
    ran: str
    template: str

    def refused(
        self, request: HttpRequest, tenant: Tenant, limit: int, context: dict[str, Any]
    ) -> HttpResponse | None:
        """Counts this run: None while within ``limit``, else the page with the error, as a 429
        with ``Retry-After``."""
        if limit <= 0:
            return None
        if not is_ratelimited(
            request,
            group=self.group,
            key=lambda _group, _request: str(tenant.pk),
            rate=f"{limit}/m",
            increment=True,
        ):
            return None
        context["error"] = (
            f"This tenant has {self.ran} {limit} times in the last minute, the most allowed: "
            "try again in a minute."
        )
        response = render(request, self.template, context, status=429)
        response["Retry-After"] = "60"
        return response
