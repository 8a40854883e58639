"""Reads of tenants, endpoints and the catalogue, shared by the API, the dashboard and tasks."""

from __future__ import annotations

import threading
import time

from django.db import transaction
from django.db.models import QuerySet

from .models import ApiKey, Endpoint, EventType, Tenant


def tenant_get(*, key: str | int) -> Tenant | None:
    """A tenant by slug or numeric id (as URLs take either)."""
    value = str(key)
    tenant = Tenant.objects.filter(slug=value).first()
    if tenant is None and value.isascii() and value.isdigit():
        tenant = Tenant.objects.filter(pk=int(value)).first()
    return tenant


TENANT_CHOICES_MAX = 1000


def tenant_choices() -> list[tuple[str, str]]:
    """(slug, name) of tenants for a picker: the first ``TENANT_CHOICES_MAX`` by slug (a picker
    suggests; any slug or id may still be typed)."""
    return list(Tenant.objects.order_by("slug").values_list("slug", "name")[:TENANT_CHOICES_MAX])


def tenants_for_user(*, user) -> QuerySet[Tenant]:  # type: ignore[no-untyped-def]
    if not user.is_authenticated:
        return Tenant.objects.none()
    return Tenant.objects.filter(memberships__user=user).distinct()


def endpoints_for_tenant(*, tenant: Tenant) -> QuerySet[Endpoint]:
    return (
        Endpoint.objects.filter(tenant=tenant, deleted_at__isnull=True)
        .prefetch_related("event_types")
        .order_by("-created_at")
    )


def endpoint_get(*, tenant: Tenant | None, endpoint_id: str) -> Endpoint | None:
    qs = Endpoint.objects.filter(pk=endpoint_id, deleted_at__isnull=True)
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    return qs.select_related("tenant").prefetch_related("event_types").first()


def event_types_list(*, include_archived: bool = False) -> QuerySet[EventType]:
    """The catalogue tenants see (the platform's internal types are not in it)."""
    qs = EventType.objects.filter(internal=False).order_by("name")
    return qs if include_archived else qs.filter(archived=False)


def audit_entries(*, tenant: Tenant | None = None, action: str | None = None):  # type: ignore[no-untyped-def]
    """The audit log, newest first (keyset-paginated on id); ``tenant=None`` spans every tenant."""
    from .models import AuditEntry

    qs = AuditEntry.objects.select_related("actor", "tenant", "api_key")
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    if action:
        qs = qs.filter(action=action)
    return qs


def endpoints_needing_attention(*, limit: int = 100) -> list[Endpoint]:
    """Failing or disabled endpoints across tenants: the longest-failing first, then disabled."""
    from django.db.models import F, Q

    return list(
        Endpoint.objects.filter(deleted_at__isnull=True)
        .filter(Q(enabled=False) | Q(failing_since__isnull=False) | Q(circuit_state="open"))
        .select_related("tenant")
        .order_by(F("failing_since").asc(nulls_last=True), F("disabled_at").desc(nulls_last=True))[
            :limit
        ]
    )


def tenants_list() -> QuerySet[Tenant]:
    """The product's tenants. Internal ones (slugs starting with "_", which ``tenant_create``
    refuses, such as the operational-webhooks tenant) are left out."""
    return Tenant.objects.exclude(slug__startswith="_")


def endpoint_get_by_key(*, tenant: Tenant, key: str) -> Endpoint | None:
    """An endpoint of ``tenant`` by id or by its uid (the Svix API takes either)."""
    from django.db.models import Q

    qs = Endpoint.objects.filter(Q(pk=key) | Q(uid=key), tenant=tenant, deleted_at__isnull=True)
    found = list(qs.prefetch_related("event_types")[:2])
    return next((e for e in found if e.pk == key), found[0] if found else None)


EVENT_TYPE_SCHEDULES_SECONDS = 5.0
_schedules_lock = threading.Lock()
_schedules: tuple[float, dict[int, tuple[float, ...]]] = (-1e9, {})


def event_type_retry_schedules() -> dict[int, tuple[float, ...]]:
    """Event type id → its own retry schedule, for the types that have one.

    Read in one query and kept per process for ``EVENT_TYPE_SCHEDULES_SECONDS``: a change made
    in this process is seen at once (``event_type_retry_schedules_forget``), one made in another
    within that time."""
    global _schedules
    read_at, schedules = _schedules
    if time.monotonic() - read_at <= EVENT_TYPE_SCHEDULES_SECONDS:
        return schedules
    with _schedules_lock:
        rows = EventType.objects.filter(retry_schedule__isnull=False).values_list(
            "id", "retry_schedule"
        )
        schedules = {pk: tuple(float(d) for d in value) for pk, value in rows if value is not None}
        _schedules = (time.monotonic(), schedules)
    return schedules


def event_type_retry_schedules_forget() -> None:
    global _schedules
    _schedules = (-1e9, {})


def event_type_retry_schedules_changed() -> None:
    """After a write of an event type's schedule: read them again now, and once more when the
    write commits (a read between the two would have found the old value)."""
    event_type_retry_schedules_forget()
    transaction.on_commit(event_type_retry_schedules_forget)


def api_keys_list(*, tenant: Tenant, limit: int = 100) -> list[ApiKey]:
    """A tenant's API keys, newest first (revoked ones too, marked so); never platform keys."""
    return list(ApiKey.objects.filter(tenant=tenant).order_by("-created_at", "-id")[:limit])


def api_key_get(*, tenant: Tenant, key_id: int | str) -> ApiKey | None:
    """One of ``tenant``'s keys by id; another tenant's (or a platform key) is None."""
    value = str(key_id)
    if not (value.isascii() and value.isdigit()):
        return None
    return ApiKey.objects.filter(tenant=tenant, pk=int(value)).first()


def endpoints_push_choices(*, tenant: Tenant, limit: int = 200) -> list[Endpoint]:
    """A tenant's live push endpoints for a picker (the event page's "Resend to")."""
    return list(
        Endpoint.objects.filter(tenant=tenant, deleted_at__isnull=True, kind=Endpoint.Kind.PUSH)
        .only("id", "url", "description", "enabled")
        .order_by("url", "id")[:limit]
    )
