"""Portal links: a signed, expiring URL that opens the tenant portal without a password.

The token is signed with ``SECRET_KEY`` (``django.core.signing``) and carries the tenant id and
an expiry; nothing is stored, so a link cannot be revoked before it expires — keep lifetimes
short (default one hour, at most seven days).

The token travels in the link's fragment (``/portal/enter/#<token>``), which browsers never send
to a server: it stays out of access logs, proxies and ``Referer`` headers. The page's script
puts it in a form, and it reaches the server only in a POST body. Links of the earlier form
(``/portal/enter/<token>/``) keep working until they expire.
"""

from __future__ import annotations

from django.core import signing
from django.urls import reverse

from .models import Tenant

SALT = "webhooks-platform.portal-link"
DEFAULT_EXPIRES_IN = 3600
MAX_EXPIRES_IN = 7 * 86400


def portal_token(*, tenant: Tenant, expires_in: int = DEFAULT_EXPIRES_IN) -> str:
    if not isinstance(expires_in, int) or not 60 <= expires_in <= MAX_EXPIRES_IN:
        raise ValueError(f"expires_in must be 60 to {MAX_EXPIRES_IN} seconds")
    return signing.dumps({"t": tenant.pk, "e": expires_in}, salt=SALT, compress=True)


def portal_link(tenant: Tenant, *, expires_in: int = DEFAULT_EXPIRES_IN, base_url: str = "") -> str:
    """An absolute URL when ``base_url`` (scheme and host) is given, else a path."""
    token = portal_token(tenant=tenant, expires_in=expires_in)
    return base_url.rstrip("/") + portal_path(token)


def portal_path(token: str) -> str:
    return reverse("portal-open") + "#" + token


def portal_token_verify(token: str) -> Tenant | None:
    """The tenant a valid, unexpired token opens; None for anything else."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_EXPIRES_IN)
        tenant_id, expires_in = int(data["t"]), int(data["e"])
        signing.loads(token, salt=SALT, max_age=expires_in)
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    return Tenant.objects.filter(pk=tenant_id).first()
