"""Endpoints' signing secrets: a caller's own or a new one, what the tenant sees of it, the live
ones per endpoint, rotation with a grace period, and rewriting every stored secret (and sealed
value) under the newest encryption key."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from platform_core.conf import webhooks_settings

from .. import crypto, destinations, signing_secrets
from ..models import Endpoint, EndpointSecret
from .header_seal import headers_reseal
from .rules import MAX_ROTATION_GRACE_SECONDS


def secret_or_new(secret: str | None, style: str = signing_secrets.STANDARD) -> str:
    """A caller's own secret, validated, or a freshly generated one: a ``whsk_`` Ed25519
    signing key for the ed25519 style, a ``whsec_`` secret for the others."""
    asymmetric = style == signing_secrets.ED25519
    if secret is None:
        return (
            signing_secrets.signing_key_generate()
            if asymmetric
            else signing_secrets.secret_generate()
        )
    try:
        if asymmetric:
            signing_secrets.signing_key_check(secret)
        else:
            signing_secrets.secret_key(secret)
    except signing_secrets.InvalidSecret as exc:
        raise ValidationError({"secret": str(exc)}) from exc
    return secret


def secret_shown(secret: str) -> str:
    """What the tenant sees of a stored secret: a ``whsec_`` secret as is, a ``whsk_`` signing
    key only as its ``whpk_`` public key."""
    return signing_secrets.public_key(secret) if signing_secrets.is_signing_key(secret) else secret


def secret_store(*, endpoint: Endpoint, secret: str) -> EndpointSecret:
    return EndpointSecret.objects.create(endpoint=endpoint, encrypted=crypto.encrypt(secret))


def endpoint_secrets_live(*, endpoint_ids: Iterable[str]) -> dict[str, list[str]]:
    """Decrypted live secrets per endpoint, newest first."""
    from django.db.models import Q

    now = timezone.now()
    rows = (
        EndpointSecret.objects.filter(endpoint_id__in=list(endpoint_ids))
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("endpoint_id", "-created_at", "-id")
        .values_list("endpoint_id", "encrypted")
    )
    out: dict[str, list[str]] = {}
    for endpoint_id, encrypted in rows:
        out.setdefault(endpoint_id, []).append(crypto.decrypt(encrypted))
    return out


def endpoint_secret_current(*, endpoint: Endpoint) -> str:
    """The newest live secret of the kind the endpoint signs with, as the tenant may see it
    (``secret_shown``); "" when there is none."""
    live = endpoint_secrets_live(endpoint_ids=[endpoint.pk]).get(endpoint.pk, [])
    usable = signing_secrets.keys_for(endpoint.signature_style, live)
    return secret_shown(usable[0]) if usable else ""


def secret_grace_validate(grace: Any) -> int:
    """How long a rotated-out secret keeps signing: 0 to seven days, in seconds."""
    if (
        not isinstance(grace, int)
        or isinstance(grace, bool)
        or not 0 <= grace <= MAX_ROTATION_GRACE_SECONDS
    ):
        raise ValidationError(
            {"grace_period_seconds": f"Give 0 to {MAX_ROTATION_GRACE_SECONDS} seconds."}
        )
    return grace


def endpoint_secret_old_until(*, endpoint: Endpoint) -> datetime | None:
    """Until when a rotated-out secret of ``endpoint`` still signs (the latest), or None."""
    return (
        EndpointSecret.objects.filter(endpoint=endpoint, expires_at__gt=timezone.now())
        .order_by("-expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )


@transaction.atomic
def endpoint_secret_rotate(
    *, endpoint: Endpoint, grace_period_seconds: int | None = None, secret: str | None = None
) -> str:
    """Make a new current secret (of the kind the endpoint's style signs with); the old ones
    keep signing for the grace period. Returns it as the tenant may see it."""
    grace = secret_grace_validate(
        webhooks_settings().secret_rotation_grace
        if grace_period_seconds is None
        else grace_period_seconds
    )
    secret = secret_or_new(secret, endpoint.signature_style)
    # Lock the endpoint so two rotations at once cannot both leave a "current" secret.
    Endpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
    now = timezone.now()
    expires = now + timedelta(seconds=grace)
    EndpointSecret.objects.filter(endpoint=endpoint, expires_at__isnull=True).update(
        expires_at=expires
    )
    EndpointSecret.objects.filter(endpoint=endpoint, expires_at__gt=expires).update(
        expires_at=expires
    )
    secret_store(endpoint=endpoint, secret=secret)
    return secret_shown(secret)


def secrets_reencrypt() -> int:
    """Rewrite every stored secret, and every endpoint's sealed credential headers and
    destination options, under the newest encryption key; returns how many values were rewritten."""
    count = 0
    for row in EndpointSecret.objects.only("id", "encrypted").iterator(chunk_size=500):
        rotated = crypto.rotate(row.encrypted)
        if rotated != row.encrypted:
            EndpointSecret.objects.filter(pk=row.pk).update(encrypted=rotated)
            count += 1
    for pk, headers in Endpoint.objects.exclude(headers={}).values_list("id", "headers"):
        resealed = headers_reseal(headers or {})
        changed = sum(1 for k, v in resealed.items() if headers.get(k) != v)
        if changed:
            Endpoint.objects.filter(pk=pk).update(headers=resealed)
            count += changed
    for pk, stored in Endpoint.objects.exclude(destination={}).values_list("id", "destination"):
        resealed = destinations.config_reseal(stored or {})
        changed = sum(1 for k, v in resealed.items() if stored.get(k) != v)
        if changed:
            Endpoint.objects.filter(pk=pk).update(destination=resealed)
            count += changed
    return count
