"""Portal links: a signed, expiring URL that opens the tenant portal without a password.

Each link is a ``PortalLink`` row; its token is signed with ``SECRET_KEY`` (``django.core.signing``)
and names the row, the tenant and the lifetime. A link can be revoked, which also ends every
portal session it opened (each request of such a session checks the row), and can be
read-only: its visitor sees everything a viewer member sees and changes nothing.

The token travels in the link's fragment (``/portal/enter/#<token>``), which browsers never send
to a server: it stays out of access logs, proxies and ``Referer`` headers. The page's script
puts it in a form, and it reaches the server only in a POST body. Tokens made before links were
stored name no row and are refused: they could not be revoked.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core import signing
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from .models import PortalLink, Tenant

SALT = "webhooks-platform.portal-link"
DEFAULT_EXPIRES_IN = 3600
MAX_EXPIRES_IN = 7 * 86400


def portal_link_create(
    *,
    tenant: Tenant,
    expires_in: int = DEFAULT_EXPIRES_IN,
    read_only: bool = False,
    created_by: Any = None,
    session_id: str = "",
) -> tuple[PortalLink, str]:
    """A new link of ``tenant`` and its token (shown once: only its signature is checked later)."""
    if not isinstance(expires_in, int) or not 60 <= expires_in <= MAX_EXPIRES_IN:
        raise ValueError(f"expires_in must be 60 to {MAX_EXPIRES_IN} seconds")
    link = PortalLink.objects.create(
        tenant=tenant,
        read_only=bool(read_only),
        expires_at=timezone.now() + timedelta(seconds=expires_in),
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        session_id=session_id,
    )
    token = signing.dumps({"t": tenant.pk, "e": expires_in, "l": link.pk}, salt=SALT, compress=True)
    return link, token


def portal_link_audit_details(link: PortalLink) -> dict[str, Any]:
    """What an audit entry of a link's creation says about it (never its key)."""
    return {"read_only": link.read_only, "expires_at": link.expires_at.isoformat()}


def portal_token(*, tenant: Tenant, expires_in: int = DEFAULT_EXPIRES_IN, **options: Any) -> str:
    return portal_link_create(tenant=tenant, expires_in=expires_in, **options)[1]


def portal_link(
    tenant: Tenant, *, expires_in: int = DEFAULT_EXPIRES_IN, base_url: str = "", **options: Any
) -> str:
    """An absolute URL when ``base_url`` (scheme and host) is given, else a path."""
    token = portal_token(tenant=tenant, expires_in=expires_in, **options)
    return base_url.rstrip("/") + portal_path(token)


def portal_path(token: str) -> str:
    return reverse("portal-open") + "#" + token


def portal_token_verify(token: str) -> PortalLink | None:
    """The live link a valid, unexpired, unrevoked token names; None for anything else."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_EXPIRES_IN)
        tenant_id, expires_in, link_id = int(data["t"]), int(data["e"]), str(data["l"])
        signing.loads(token, salt=SALT, max_age=expires_in)
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    link = portal_link_live(link_id)
    return link if link is not None and link.tenant_id == tenant_id else None


def portal_link_live(link_id: Any) -> PortalLink | None:
    """The link ``link_id`` with its tenant if it may still be used (a portal session asks on
    every request, so a revoked link's sessions end at once)."""
    if not isinstance(link_id, str):
        return None
    link = PortalLink.objects.select_related("tenant").filter(pk=link_id).first()
    return link if link is not None and link.is_live(timezone.now()) else None


def portal_link_touch(link: PortalLink) -> None:
    link.last_used_at = timezone.now()
    PortalLink.objects.filter(pk=link.pk).update(last_used_at=link.last_used_at)


def portal_link_revoke(link: PortalLink) -> bool:
    """Revoke ``link`` now; False if it was already revoked or expired."""
    now = timezone.now()
    if not link.is_live(now):
        return False
    link.revoked_at = now
    PortalLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=now)
    return True


def portal_links_expire_all(
    *, tenant: Tenant, within: int = 0, session_ids: list[str] | None = None
) -> int:
    """Every live link of ``tenant`` (or of those Svix ``sessionId``s) ends within ``within``
    seconds (0: now), with its sessions; returns how many links this shortened."""
    now = timezone.now()
    live = PortalLink.objects.filter(tenant=tenant, revoked_at__isnull=True, expires_at__gt=now)
    if session_ids is not None:
        live = live.filter(session_id__in=session_ids)
    if within <= 0:
        return live.update(revoked_at=now)
    return live.filter(expires_at__gt=now + timedelta(seconds=within)).update(
        expires_at=now + timedelta(seconds=within)
    )


def portal_links_recent(*, tenant: Tenant, limit: int = 50) -> QuerySet[PortalLink]:
    """The tenant's newest links, live or not, with who made them."""
    return PortalLink.objects.filter(tenant=tenant).select_related("created_by")[:limit]


def portal_link_get(*, tenant: Tenant, link_id: str) -> PortalLink | None:
    """``tenant``'s link ``link_id``; another tenant's is None, as a missing one."""
    return PortalLink.objects.filter(tenant=tenant, pk=link_id).first()
