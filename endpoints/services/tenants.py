"""Writes to tenants."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..models import Tenant
from ..portal_look import portal_look_validate
from .rules import (
    _SLUG_RE,
    _UNSET,
    AlreadyExists,
    _message_format_validate,
    metadata_validate,
    uid_validate,
)


def _tenant_save(tenant: Tenant, *, creating: bool) -> Tenant:
    try:
        with transaction.atomic():
            if creating:
                tenant.save(force_insert=True)
            else:
                tenant.save()
    except IntegrityError as exc:
        if tenant.uid and Tenant.objects.filter(uid=tenant.uid).exclude(pk=tenant.pk).exists():
            raise AlreadyExists({"uid": f"A tenant with uid {tenant.uid!r} exists."}) from exc
        message = f"A tenant with slug {tenant.slug!r} already exists."
        raise AlreadyExists({"slug": message}) from exc
    return tenant


def tenant_slug_for(*, uid: str | None, public_id: str) -> str:
    """A free slug for a tenant made through the Svix-compatible API: its uid where that is a
    valid slug no tenant has, else its id."""
    candidate = (uid or "").lower()
    if (
        _SLUG_RE.match(candidate)
        and not candidate.isdigit()
        and not Tenant.objects.filter(slug=candidate).exists()
    ):
        return candidate
    return public_id.lower().replace("_", "-")


# --- Tenants ---------------------------------------------------------------------------------


def tenant_create(
    *,
    slug: str | None = None,
    name: str = "",
    uid: str | None = None,
    metadata: Mapping[str, str] | None = None,
    message_format: str = Tenant.MessageFormat.STANDARD,
) -> Tenant:
    """A tenant. ``slug`` is derived from ``uid`` or the id when not given (Svix's apps have
    no slug)."""
    uid = uid_validate(uid, reserved_prefix="app_")
    tenant = Tenant(
        uid=uid,
        metadata=metadata_validate(metadata),
        message_format=_message_format_validate(message_format),
    )
    if slug is None:
        slug = tenant_slug_for(uid=uid, public_id=tenant.public_id)
    slug = (slug or "").strip().lower()
    if not _SLUG_RE.match(slug):
        raise ValidationError(
            {
                "slug": "Use 1-64 lowercase letters, digits and hyphens, not starting or ending "
                "with a hyphen."
            }
        )
    if slug.isdigit():
        raise ValidationError({"slug": "A slug may not be only digits (it would read as an id)."})
    tenant.slug = slug
    tenant.name = (name or slug).strip()[:200]
    return _tenant_save(tenant, creating=True)


def tenant_update(
    *,
    tenant: Tenant,
    name: str | None = None,
    uid: str | None = _UNSET,
    metadata: Mapping[str, str] | None = None,
    message_format: str | None = None,
    portal: Mapping[str, Any] | None = None,
) -> Tenant:
    """Change what is given; ``uid=None`` removes the uid, omitted leaves it. ``portal``: the
    keys of the portal's look to change (``endpoints.portal_look``)."""
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError({"name": "A name may not be empty."})
        tenant.name = name[:200]
    if uid is not _UNSET:
        tenant.uid = uid_validate(uid, reserved_prefix="app_")
    if metadata is not None:
        tenant.metadata = metadata_validate(metadata)
    if message_format is not None:
        tenant.message_format = _message_format_validate(message_format)
    if portal is not None:
        for key, value in portal_look_validate(portal).items():
            setattr(tenant, f"portal_{key}", value)
    return _tenant_save(tenant, creating=False)


@transaction.atomic
def tenant_delete_rows(*, tenant: Tenant) -> None:
    """Delete a tenant's rows and all that hang from them. Callers use
    ``deliveries.services.endpoint_lifecycle.tenant_delete``, which first takes the fan-out's
    lock order."""
    Tenant.objects.filter(pk=tenant.pk).delete()
