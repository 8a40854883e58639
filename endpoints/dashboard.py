"""Who is looking at the dashboard, and which tenant they act for.

Two kinds of visitor reach the tenant portal: a signed-in user with ``Membership`` rows, and a
visitor who came through a portal link, whose session holds one tenant and no Django user. Every
tenant page goes through ``tenant_view``, which resolves the tenant from the session alone — never
from the URL — so the tenant in a URL cannot be chosen by the visitor, and every object a view
loads is then filtered by that tenant (another tenant's id gives 404).

The helpers that know no tenant (the support console's ``staff_view``, ``flat_message``) are in
``platform_core.dashboard``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from endpoints.models import Endpoint, Membership, PortalLink, Tenant
from endpoints.portal import portal_link_live
from endpoints.selectors import endpoint_get
from endpoints.services import audit_record

PORTAL_SESSION_KEY = "portal_tenant_id"
PORTAL_LINK_KEY = "portal_link_id"
SELECTED_TENANT_KEY = "dashboard_tenant_id"


@dataclass(frozen=True)
class Viewer:
    tenant: Tenant
    tenants: list[Tenant] = field(default_factory=list)
    portal: bool = False
    can_write: bool = True
    portal_link: PortalLink | None = None


def viewer_resolve(request: HttpRequest) -> Viewer | None:
    """The tenant this request acts for, or None when it may see no tenant's pages."""
    portal_id = request.session.get(PORTAL_SESSION_KEY)
    if portal_id is not None and request.user.is_authenticated:
        # Someone signed in after a portal session on this browser: the account wins, and the
        # portal tenant must never carry over into it.
        del request.session[PORTAL_SESSION_KEY]
        portal_id = None
    if portal_id is not None:
        link = portal_link_live(request.session.get(PORTAL_LINK_KEY))
        if link is None or link.tenant_id != portal_id:
            # The link was revoked or has expired (or the session predates stored links): the
            # session ends with it.
            request.session.flush()
            request.portal_ended = True  # type: ignore[attr-defined]
            return None
        return Viewer(
            tenant=link.tenant,
            tenants=[link.tenant],
            portal=True,
            can_write=not link.read_only,
            portal_link=link,
        )
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = list(
        Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__slug")
    )
    if not memberships:
        return None
    chosen = request.session.get(SELECTED_TENANT_KEY)
    membership = next((m for m in memberships if m.tenant_id == chosen), memberships[0])
    return Viewer(
        tenant=membership.tenant,
        tenants=[m.tenant for m in memberships],
        can_write=membership.role == Membership.Role.ADMIN,
    )


def tenant_view(view: Callable[..., HttpResponse] | None = None, *, write: bool = False) -> Any:
    """Resolve the viewer's tenant and pass it to the view as its second argument.

    ``write=True`` refuses members with the viewer role and read-only portal links (403).
    """

    def decorate(fn: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(fn)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            viewer = viewer_resolve(request)
            if viewer is None:
                if getattr(request, "portal_ended", False):
                    return render(request, "portal/portal_link_invalid.html", status=403)
                if request.user.is_authenticated:
                    return render(request, "portal/no_tenant.html", status=403)
                return redirect_to_login(request.get_full_path())
            if write and not viewer.can_write:
                raise PermissionDenied("Your role in this tenant is read-only.")
            request.viewer = viewer  # type: ignore[attr-defined]
            return fn(request, viewer.tenant, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def audit(
    request: HttpRequest,
    *,
    action: str,
    tenant: Tenant | None,
    target: Any = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a manual action; a portal visitor has no user, so the entry says how they came."""
    viewer = getattr(request, "viewer", None)
    extra = dict(details or {})
    if viewer is not None and viewer.portal:
        extra["via"] = "portal link"
    audit_record(action=action, actor=request.user, tenant=tenant, target=target, details=extra)


def endpoint_or_404(tenant: Tenant, endpoint_id: str) -> Endpoint:
    """The tenant's endpoint ``endpoint_id``; another tenant's, or none, is a 404."""
    endpoint = endpoint_get(tenant=tenant, endpoint_id=endpoint_id)
    if endpoint is None:
        raise Http404("No such endpoint.")
    return endpoint
