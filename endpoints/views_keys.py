"""A tenant's API keys in the dashboard: make one (shown once), list them, revoke one.

The same service as ``manage.py create_api_key --tenant``: only the key's hash is stored, and
the key in clear is in the one response that makes it, never in a session or a log. Keys are
the tenant members' business: a portal-link visitor neither sees nor makes them (a link must
not beget credentials that outlive it).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from endpoints.dashboard import audit, tenant_view

from . import selectors, services
from .models import Tenant


def _members_only(request: HttpRequest) -> None:
    if request.viewer.portal:  # type: ignore[attr-defined]
        raise Http404("API keys are managed by the tenant's members.")


def _page(request: HttpRequest, tenant: Tenant, **extra: object) -> HttpResponse:
    context = {
        "tenant": tenant,
        "api_keys": selectors.api_keys_list(tenant=tenant),
        "section": "settings",
        **extra,
    }
    return render(request, "portal/api_keys.html", context)


@require_GET
@tenant_view
def api_keys(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    _members_only(request)
    return _page(request, tenant)


@never_cache
@require_POST
@tenant_view(write=True)
def api_key_create(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """Answered with the page itself (no redirect): the key appears in this one response."""
    _members_only(request)
    name = request.POST.get("name", "").strip()
    if len(name) > 200:
        messages.error(request, "The name is too long (200 characters at most).")
        return redirect("api-keys")
    api_key, key = services.api_key_create(
        tenant=tenant, name=name, read_only=request.POST.get("read_only") == "yes"
    )
    audit(
        request,
        action="api_key.create",
        tenant=tenant,
        target=api_key,
        details={"prefix": api_key.prefix, "read_only": api_key.read_only},
    )
    return _page(request, tenant, new_key=key, new_api_key=api_key)


@require_POST
@tenant_view(write=True)
def api_key_revoke(request: HttpRequest, tenant: Tenant, key_id: str) -> HttpResponse:
    _members_only(request)
    api_key = selectors.api_key_get(tenant=tenant, key_id=key_id)
    if api_key is None:
        raise Http404("No such API key.")
    if api_key.revoked_at is not None:
        messages.info(request, f"Key {api_key.prefix} was already revoked.")
    else:
        services.api_key_revoke(api_key=api_key)
        audit(request, action="api_key.revoke", tenant=tenant, target=api_key)
        messages.success(request, f"Key {api_key.prefix} revoked; requests with it now get 401.")
    return redirect("api-keys")
