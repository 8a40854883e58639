"""The audit log and API keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import ApiKey, Tenant

# --- Audit -----------------------------------------------------------------------------------


def audit_record(
    *,
    action: str,
    actor: Any = None,
    api_key: Any = None,
    tenant: Tenant | None = None,
    target: Any = None,
    details: dict[str, Any] | None = None,
) -> None:
    """One line in the audit log for a manual action (who, what, on what, when)."""
    from ..models import AuditEntry

    AuditEntry.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        api_key=api_key,
        tenant=tenant,
        action=action,
        target_type=target.__class__.__name__.lower() if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        details=details or {},
    )


# --- API keys --------------------------------------------------------------------------------

API_KEY_PREFIX = "whk_"
# A key is touched at most this often, so authenticating a burst of requests is not a burst of
# writes (SQLite serialises writers).
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


def api_key_hash(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def api_key_create(
    *, tenant: Tenant | None = None, name: str = "", read_only: bool = False
) -> tuple[ApiKey, str]:
    """A new key; returns the row and the key in clear, which is never stored or shown again.
    A ``read_only`` key may only read (GET, HEAD, OPTIONS), on either API.

    The key is ``whk_<12 hex>_<43 urlsafe chars>``: the first part is the visible prefix kept on
    the row to identify the key, the rest carries 256 random bits.
    """
    import secrets

    for _ in range(5):
        prefix = f"{API_KEY_PREFIX}{secrets.token_hex(6)}"
        key = f"{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    tenant=tenant,
                    name=(name or "").strip()[:200],
                    prefix=prefix,
                    key_hash=api_key_hash(key),
                    read_only=read_only,
                )
        except IntegrityError:
            # 48 bits of prefix make a clash rare, not impossible.
            continue
        return api_key, key
    raise RuntimeError("could not find a free API key prefix")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke ``api_key`` for good; revoking twice keeps the first time."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_authenticate(*, key: str) -> ApiKey | None:
    """The live key matching ``key`` (revoked ones included, so callers can say why), or None.

    Marks the key used, at most once per ``API_KEY_TOUCH_INTERVAL``.
    """
    if not key.startswith(API_KEY_PREFIX) or len(key) > 200:
        return None
    api_key = ApiKey.objects.select_related("tenant").filter(key_hash=api_key_hash(key)).first()
    if api_key is None or api_key.revoked_at is not None:
        return api_key
    now = timezone.now()
    if api_key.last_used_at is None or api_key.last_used_at < now - API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
