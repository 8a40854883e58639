"""Endpoint changes whose effects reach its deliveries: update, disable, enable, circuit reset and
delete, and a tenant's delete. DESIGN.md, "Layers": ``deliveries`` uses ``endpoints``, never the
reverse, so the work that touches both lives here. ``endpoints.services`` writes the endpoint's
row; each function here calls it and then cancels, resumes, releases or dispatches the endpoint's
deliveries and sends the operational webhook, in one transaction: a disable and its
cancellations commit together. Every caller (dashboard, both APIs, support, admin, engine) uses
these."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from deliveries.models import Delivery, Event
from deliveries.ordering import held_release_all
from endpoints.models import Endpoint, EventType, Tenant
from endpoints.services import (
    UNSET,
    endpoint_circuit_close,
    endpoint_fields_update,
    endpoint_mark_deleted,
    endpoint_mark_disabled,
    endpoint_mark_enabled,
    tenant_delete_rows,
)

from .dispatch import deliveries_dispatch
from .lifecycle import deliveries_cancel_for_endpoint, deliveries_resume_for_endpoint
from .operational import endpoint_state_changed


@transaction.atomic
def endpoint_update(
    *,
    endpoint: Endpoint,
    url: str | None = None,
    description: str | None = None,
    event_types: Iterable[str | EventType] | None = None,
    headers: Mapping[str, str] | None = None,
    enabled: bool | None = None,
    rate_limit: int | None = UNSET,
    uid: str | None = UNSET,
    channels: Iterable[str] | None = UNSET,
    metadata: Mapping[str, str] | None = None,
    signature_style: str | None = None,
    payload_filter: Mapping[str, Any] | None = UNSET,
    retry_schedule: Sequence[float] | None = UNSET,
    ordered: bool | None = None,
    destination: Mapping[str, Any] | None = None,
) -> Endpoint:
    """Change what is given (``endpoints.services.endpoint_fields_update`` says how ``None``
    and omitted differ); an endpoint no longer ``ordered`` releases what it held, and
    ``enabled`` enables or disables it as ``endpoint_enable``/``endpoint_disable`` do."""
    updated = endpoint_fields_update(
        endpoint=endpoint,
        url=url,
        description=description,
        event_types=event_types,
        headers=headers,
        rate_limit=rate_limit,
        uid=uid,
        channels=channels,
        metadata=metadata,
        signature_style=signature_style,
        payload_filter=payload_filter,
        retry_schedule=retry_schedule,
        ordered=ordered,
        destination=destination,
    )
    if updated.unordered:
        # No longer one at a time: what it held goes out as any endpoint's deliveries do.
        deliveries_dispatch(delivery_ids=held_release_all(endpoint.pk, now=timezone.now()))
    if enabled is True and not endpoint.enabled:
        endpoint_enable(endpoint=endpoint)
    elif enabled is False and endpoint.enabled:
        endpoint_disable(endpoint=endpoint, reason="disabled by user")
    return endpoint


@transaction.atomic
def endpoint_disable(*, endpoint: Endpoint, reason: str) -> Endpoint:
    """Stop delivering to ``endpoint``; what was waiting is cancelled (and revived on enable)."""
    if endpoint_mark_disabled(endpoint=endpoint, reason=reason):
        deliveries_cancel_for_endpoint(endpoint_id=endpoint.pk, reason="endpoint disabled")
        endpoint_state_changed(endpoint=endpoint, event="endpoint.disabled", reason=reason)
    return endpoint


@transaction.atomic
def endpoint_enable(*, endpoint: Endpoint) -> Endpoint:
    """Deliver again, resuming the deliveries cancelled by the disable still in the retry window."""
    if endpoint_mark_enabled(endpoint=endpoint):
        deliveries_resume_for_endpoint(endpoint_id=endpoint.pk)
        endpoint_state_changed(endpoint=endpoint, event="endpoint.enabled")
    return endpoint


@transaction.atomic
def endpoint_circuit_reset(*, endpoint: Endpoint) -> int:
    """Close ``endpoint``'s circuit and send what waits for it now; returns how many go.

    For a person who fixed the receiver and will not wait for the next probe. If the receiver
    still fails, the circuit opens again after the usual run of failures.
    """
    was_open = endpoint_circuit_close(endpoint=endpoint)
    now = timezone.now()
    waiting = list(  # a scheduled event's delivery keeps its time
        Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING)
        .exclude(event__deliver_at__gt=now)
        .values_list("id", flat=True)
    )
    Delivery.objects.filter(id__in=waiting).update(next_attempt_at=now, dispatched_until=None)
    if waiting:
        deliveries_dispatch(delivery_ids=waiting)
    if was_open:
        endpoint_state_changed(
            endpoint=endpoint, event="endpoint.circuit_closed", reason="reset by a person"
        )
    return len(waiting)


@transaction.atomic
def endpoint_delete(*, endpoint: Endpoint) -> None:
    """Soft delete: the endpoint stops receiving, its history stays readable by support; what
    was waiting is cancelled."""
    endpoint_mark_deleted(endpoint=endpoint)
    deliveries_cancel_for_endpoint(endpoint_id=endpoint.pk, reason="endpoint deleted")


# Every event of a tenant locked, one row back whatever their number.
_LOCK_EVENTS = (
    f"SELECT count(*) FROM (SELECT 1 FROM {Event._meta.db_table} "  # noqa: S608  (a model's table)
    "WHERE tenant_id = %s FOR UPDATE) AS locked"
)


def tenant_delete(*, tenant: Tenant) -> None:
    """Delete a tenant with its endpoints, events, deliveries and keys (Svix's app delete).

    A fan-out holds its events' rows while it inserts their deliveries, so deleting the rows
    under it fails one side on a foreign key. Two steps keep the fan-out's lock order instead:
    first every endpoint is soft deleted and what waits is cancelled, and that commits, so a
    fan-out that starts afterwards finds no subscriber; then the tenant's events are locked,
    which waits for any fan-out still holding one, then the tenant's row, and everything is
    deleted, the deliveries those fan-outs committed included. A delivery in flight meanwhile
    has its attempt dropped by the recorder (``engine.record``), never the batch it shares with
    others.
    """
    with transaction.atomic():
        for endpoint in Endpoint.objects.filter(tenant=tenant, deleted_at__isnull=True):
            endpoint_delete(endpoint=endpoint)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_LOCK_EVENTS, [tenant.pk])
        # Then the tenant's row: a publish or an endpoint create in progress commits first
        # (and is deleted with the rest); one that comes later waits, then finds no tenant.
        list(Tenant.objects.select_for_update().filter(pk=tenant.pk).values_list("pk", flat=True))
        tenant_delete_rows(tenant=tenant)
