"""Tenant pages that are not about one endpoint: the event catalogue and the tenant's
settings (portal links have their own module, ``views_portal``)."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from endpoints.dashboard import tenant_view

from . import selectors, services
from .models import Tenant
from .views_shared import action_done, action_refused

# --- Catalogue -------------------------------------------------------------------------------


@require_GET
@tenant_view
def event_catalogue(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    types = [
        {
            "type": t,
            "schema": json.dumps(t.schema, indent=2) if t.schema is not None else "",
            "example": json.dumps(t.example, indent=2) if t.example is not None else "",
        }
        for t in selectors.event_types_list()
    ]
    return render(request, "portal/catalogue.html", {"types": types, "section": "catalogue"})


# --- Tenant settings -------------------------------------------------------------------------


@require_GET
@tenant_view
def tenant_settings(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    return render(
        request,
        "portal/settings.html",
        {"tenant": tenant, "formats": Tenant.MessageFormat.choices, "section": "settings"},
    )


@require_POST
@tenant_view(write=True)
def tenant_settings_update(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    wanted = request.POST.get("message_format", "")
    try:
        services.tenant_update(tenant=tenant, message_format=wanted)
    except ValidationError as exc:
        return action_refused(request, exc, redirect("tenant-settings"))
    return action_done(
        request,
        redirect("tenant-settings"),
        message=f"Message format set to {tenant.get_message_format_display()} for new events.",
        action="tenant.update",
        tenant=tenant,
        target=tenant,
        details={"message_format": wanted},
    )
