"""Portal links in the dashboard: entering through one, and a tenant's admins making, listing
and revoking them (support does the same from the tenant's support page); where the dashboard's
front page leads, and choosing which tenant to act for."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from endpoints.dashboard import (
    PORTAL_LINK_KEY,
    PORTAL_SESSION_KEY,
    SELECTED_TENANT_KEY,
    audit,
    tenant_view,
    viewer_resolve,
)
from endpoints.embedding import entry_frame_origins

from . import portal
from .models import Tenant

LIFETIMES = [
    (3600, "1 hour"),
    (8 * 3600, "8 hours"),
    (86400, "24 hours"),
    (portal.MAX_EXPIRES_IN, "7 days"),
]


@require_http_methods(["GET", "POST"])
def portal_open(request: HttpRequest) -> HttpResponse:
    """A portal link (``/portal/enter/#<token>``): the token is in the fragment, which only the
    page's script reads. GET is the page that picks it up; a POST of the token alone shows whose
    portal it opens; a POST with ``enter`` enters it."""
    token = request.POST.get("token", "").strip()
    if request.method == "GET" or not token:
        request.frame_origins = entry_frame_origins()  # type: ignore[attr-defined]
        return render(request, "portal/portal_open.html")
    return portal_enter(request, token)


@require_http_methods(["GET", "POST"])
def portal_enter_gone(request: HttpRequest, token: str) -> HttpResponse:
    """A link of the earlier form, ``/portal/enter/<key>/``: the key in the path ends up in
    access logs, so it is never looked at; the page says to ask for a link of the new form."""
    return render(request, "portal/portal_link_gone.html", status=410)


def portal_enter(request: HttpRequest, token: str) -> HttpResponse:
    """Whose portal the link opens (GET, or a POST without ``enter``); only a POST with
    ``enter`` (and its CSRF token) enters it.

    Entering on GET would let any page embed someone else's link (an ``<img>``) and swap the
    visitor's session for that tenant's portal, where they might then type their own secrets.
    """
    link = portal.portal_token_verify(token)
    if link is None:
        return render(request, "portal/portal_link_invalid.html", status=403)
    # Framed only by this tenant's origins; in such a frame the page enters by itself.
    request.frame_origins = link.tenant.portal_embed_origins  # type: ignore[attr-defined]
    request.look_tenant = link.tenant  # type: ignore[attr-defined]
    if request.method == "GET" or request.POST.get("enter") != "yes":
        return render(
            request,
            "portal/portal_enter.html",
            {"tenant": link.tenant, "link": link, "token": token},
        )
    # A fresh session with no Django user: whoever was signed in on this browser is signed out,
    # so the link never mixes its tenant with another account's rights.
    logout(request)
    request.session[PORTAL_SESSION_KEY] = link.tenant_id
    request.session[PORTAL_LINK_KEY] = link.pk
    # The session ends when the link expires; revoking the link ends it sooner.
    request.session.set_expiry(max(60, int((link.expires_at - timezone.now()).total_seconds())))
    portal.portal_link_touch(link)
    return redirect("endpoint-list")


def links_context(tenant: Tenant) -> dict[str, object]:
    """What a page listing the tenant's portal links shows."""
    now = timezone.now()
    links = list(portal.portal_links_recent(tenant=tenant, limit=20))
    return {
        "portal_links": [{"link": link, "live": link.is_live(now)} for link in links],
        "portal_lifetimes": LIFETIMES,
    }


def _members_only(request: HttpRequest) -> None:
    """A portal-link visitor neither sees nor makes links (a link must not beget links)."""
    if request.viewer.portal:  # type: ignore[attr-defined]
        raise Http404("Portal links are managed by the tenant's members.")


# The link just made, shown by the next page once (then only its id remains anywhere).
NEW_LINK_KEY = "portal_link_new"


@require_GET
@tenant_view
def portal_links(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    _members_only(request)
    new = request.session.pop(NEW_LINK_KEY, None)
    context = {"tenant": tenant, "section": "settings", **links_context(tenant)}
    if isinstance(new, dict) and new.get("tenant") == tenant.pk:
        context |= {"new_url": new["url"], "new_link": tenant.portal_links.get(pk=new["id"])}
    return render(request, "portal/portal_links.html", context)


@require_POST
@tenant_view(write=True)
def portal_link_create(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """Make a link; the list shows it once (its key is not stored anywhere to show it again)."""
    _members_only(request)
    try:
        expires_in = int(request.POST.get("expires_in", ""))
        with transaction.atomic():
            link, token = portal.portal_link_create(
                tenant=tenant,
                expires_in=expires_in,
                read_only=request.POST.get("read_only") == "yes",
                created_by=request.user,
            )
            audit(
                request,
                action="portal_link.create",
                tenant=tenant,
                target=link,
                details=portal.portal_link_audit_details(link),
            )
    except ValueError:
        messages.error(request, "Choose how long the link works: 1 hour to 7 days.")
        return redirect("portal-links")
    # Redirect, so that reloading the page shows the list instead of making another link.
    request.session[NEW_LINK_KEY] = {
        "tenant": tenant.pk,
        "id": link.pk,
        "url": request.build_absolute_uri(portal.portal_path(token)),
    }
    return redirect("portal-links")


@require_POST
@tenant_view(write=True)
def portal_link_revoke(request: HttpRequest, tenant: Tenant, link_id: str) -> HttpResponse:
    _members_only(request)
    link = portal.portal_link_get(tenant=tenant, link_id=link_id)
    if link is None:
        raise Http404("No such portal link.")
    with transaction.atomic():
        if portal.portal_link_revoke(link):
            audit(request, action="portal_link.revoke", tenant=tenant, target=link)
            messages.success(request, f"Link {link.pk} revoked; its open sessions have ended.")
        else:
            messages.info(request, f"Link {link.pk} had already ended.")
    return redirect("portal-links")


# --- Entry points: where "/" leads, and choosing a tenant ---------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if viewer_resolve(request) is not None:
        return redirect("endpoint-list")
    if request.user.is_authenticated and request.user.is_staff:
        return redirect("support-home")
    if request.user.is_authenticated:
        return render(request, "portal/no_tenant.html", status=403)
    return redirect("login")


@require_POST
@tenant_view
def tenant_switch(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    wanted = request.POST.get("tenant", "")
    chosen = next((t for t in request.viewer.tenants if str(t.pk) == wanted), None)
    if chosen is None:
        raise Http404("No such tenant.")
    request.session[SELECTED_TENANT_KEY] = chosen.pk
    return redirect("endpoint-list")
