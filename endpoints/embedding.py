"""The portal in the product's own pages: who may frame it, and how it looks there.

Every page is unframeable (``frame-ancestors 'none'``, ``X-Frame-Options: DENY``) except:

- pages seen through a portal link of a tenant with ``portal_embed_origins``: framed by those
  origins (and this site);
- the link's entry page (``/portal/enter/``, which carries no tenant until its key is posted):
  framed by any origin some tenant lists. Nothing there acts on its own; the page its key
  leads to is framed only by that key's tenant's origins, and a browser refuses to show it
  anywhere else.

Signed-in members' and staff pages are never framed. The look (theme, accent, logo) applies to
every page of the tenant, framed or not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from endpoints.models import Tenant
from endpoints.portal_look import accent_style, logo_origin


def look_tenant(request: HttpRequest) -> Tenant | None:
    """The tenant whose look this page wears: the viewer's, or the one a portal link's entry
    page named (``request.look_tenant``)."""
    viewer = getattr(request, "viewer", None)
    if viewer is not None:
        return viewer.tenant
    return getattr(request, "look_tenant", None)


def portal_look(request: HttpRequest) -> dict[str, Any]:
    """Context processor: ``look`` for base.html."""
    tenant = look_tenant(request)
    if tenant is None:
        return {"look": {"theme": "light", "accent_style": "", "logo_url": ""}}
    return {
        "look": {
            "theme": tenant.portal_theme,
            "accent_style": accent_style(tenant.portal_accent_color),
            "logo_url": tenant.portal_logo_url,
        }
    }


def entry_frame_origins() -> list[str]:
    """Every origin some tenant lets frame its portal (for the entry page)."""
    origins: set[str] = set()
    for listed in Tenant.objects.exclude(portal_embed_origins=[]).values_list(
        "portal_embed_origins", flat=True
    ):
        origins.update(listed or ())
    return sorted(origins)


class PortalFrameMiddleware:
    """Sets the frame and image policy of a response from what its view resolved."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        replace: dict[str, list[str]] = {}
        framers = getattr(request, "frame_origins", None)
        if framers is None:
            viewer = getattr(request, "viewer", None)
            if viewer is not None and viewer.portal:
                framers = viewer.tenant.portal_embed_origins
        if framers:
            replace["frame-ancestors"] = ["'self'", *framers]
            response.xframe_options_exempt = True  # type: ignore[attr-defined]
        tenant = look_tenant(request)
        if tenant is not None and tenant.portal_logo_url:
            origin = logo_origin(tenant.portal_logo_url)
            if origin:
                replace["img-src"] = ["'self'", "data:", origin]
        if replace:
            response._csp_replace = replace  # type: ignore[attr-defined]
        return response
