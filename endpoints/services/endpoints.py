"""Writes to endpoints: create, change, disable, enable, close the circuit, delete (their signing
secrets are ``secrets``')."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from platform_core.conf import webhooks_settings

from .. import destinations, signing_secrets
from ..models import Endpoint, EventType, Tenant
from .destination_rules import DESTINATION_TWILIO_REFUSED, destination_validate, kind_validate
from .header_seal import headers_seal
from .rules import (
    _UNSET,
    AlreadyExists,
    channels_validate_field,
    endpoint_headers_validate,
    endpoint_rate_limit_validate,
    endpoint_url_validate,
    metadata_validate,
    payload_filter_validate,
    retry_schedule_validate,
    signature_style_validate,
    uid_validate,
)
from .secrets import endpoint_secret_rotate, secret_or_new, secret_shown, secret_store

# --- Endpoints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointUpdated:
    """What ``endpoint_fields_update`` changed that the endpoint's deliveries must follow."""

    endpoint: Endpoint
    unordered: bool  # ``ordered`` was turned off: what it held one at a time may all go now


def _event_types_resolve(
    names: Iterable[str | EventType], *, tenant: Tenant, keep: Iterable[str] = ()
) -> list[EventType]:
    """The event types named; archived ones only if already subscribed (``keep``), so editing
    an endpoint does not silently drop a subscription to a type archived since. The platform's
    internal types exist for the operations tenant only."""
    wanted = {n.name if isinstance(n, EventType) else str(n) for n in names}
    types = EventType.objects.filter(name__in=wanted)
    if not tenant.is_operations:
        types = types.filter(internal=False)
    found = {et.name: et for et in types}
    missing = sorted(wanted - set(found))
    if missing:
        raise ValidationError({"event_types": f"Unknown event types: {', '.join(missing)}."})
    kept = set(keep)
    archived = sorted(n for n, et in found.items() if et.archived and n not in kept)
    if archived:
        raise ValidationError({"event_types": f"Archived event types: {', '.join(archived)}."})
    return list(found.values())


# Twilio's signature covers the URL it posts to, and a poll endpoint has none.
POLL_TWILIO_REFUSED = (
    "The twilio style signs over the endpoint's URL, and a poll endpoint has none: choose "
    "another style."
)


@transaction.atomic
def endpoint_create(
    *,
    tenant: Tenant,
    url: str = "",
    description: str = "",
    event_types: Iterable[str | EventType] = (),
    headers: Mapping[str, str] | None = None,
    enabled: bool = True,
    secret: str | None = None,
    rate_limit: int | None = None,
    uid: str | None = None,
    channels: Iterable[str] | None = None,
    metadata: Mapping[str, str] | None = None,
    signature_style: str | None = None,
    payload_filter: Mapping[str, Any] | None = None,
    retry_schedule: Sequence[float] | None = None,
    ordered: bool = False,
    kind: str = Endpoint.Kind.PUSH,
    destination: Mapping[str, Any] | None = None,
) -> tuple[Endpoint, str]:
    """Create an endpoint and its first signing secret; returns both (the secret in clear once;
    for the ed25519 style, the public key). A ``poll`` endpoint has no URL: its consumers read
    its feed (``deliveries.feed``). A destination kind (``endpoints.destinations``) takes its
    options in ``destination`` instead of a URL."""
    uid = uid_validate(uid, reserved_prefix="ep_")
    channel_names = channels_validate_field(list(channels) if channels is not None else None)
    clean_metadata = metadata_validate(metadata)
    kind = kind_validate(kind)
    clean_destination: dict[str, Any] = {}
    if destination and not destinations.is_destination(kind):
        raise ValidationError({"destination": f"A {kind} endpoint has no destination options."})
    if destinations.is_destination(kind):
        if url:
            raise ValidationError(
                {"url": "A destination has no URL: give its options in destination."}
            )
        if signature_style == signing_secrets.TWILIO:
            raise ValidationError({"signature_style": DESTINATION_TWILIO_REFUSED})
        clean_destination, url = destination_validate(
            kind=kind, config=destination or {}, operations=tenant.is_operations
        )
    elif kind == Endpoint.Kind.POLL:
        if url:
            raise ValidationError({"url": "A poll endpoint has no URL: its consumers read it."})
        if ordered:
            raise ValidationError({"ordered": "A feed is always in publish order."})
        if signature_style == signing_secrets.TWILIO:
            raise ValidationError({"signature_style": POLL_TWILIO_REFUSED})
    elif not (url or "").strip():
        raise ValidationError(
            {
                "url": "A push endpoint needs the URL that receives its events; one that "
                "consumers read instead is kind poll."
            }
        )
    else:
        url = endpoint_url_validate(url, operations=tenant.is_operations)
    rate_limit = endpoint_rate_limit_validate(rate_limit)
    signature_style = signature_style_validate(signature_style or Endpoint.SignatureStyle.STANDARD)
    clean_filter = payload_filter_validate(payload_filter)
    clean_schedule = retry_schedule_validate(retry_schedule)
    clean_headers = headers_seal(endpoint_headers_validate(headers), {})
    types = _event_types_resolve(event_types, tenant=tenant)
    secret = secret_or_new(secret, signature_style)
    cap = webhooks_settings().max_endpoints_per_tenant
    # Locks the tenant row, so that concurrent creations cannot both pass the count.
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    if cap and Endpoint.objects.filter(tenant=tenant, deleted_at__isnull=True).count() >= cap:
        raise ValidationError(
            {
                "non_field_errors": f"This tenant has {cap} endpoints, the most allowed "
                "(WEBHOOKS_MAX_ENDPOINTS_PER_TENANT); delete one first."
            }
        )
    if uid is not None and Endpoint.objects.filter(tenant=tenant, uid=uid).exists():
        raise AlreadyExists({"uid": f"An endpoint with uid {uid!r} exists."})
    endpoint = Endpoint.objects.create(
        tenant=tenant,
        uid=uid,
        channels=channel_names,
        metadata=clean_metadata,
        url=url,
        description=(description or "")[:500],
        headers=clean_headers,
        enabled=enabled,
        rate_limit=rate_limit,
        signature_style=signature_style,
        payload_filter=clean_filter,
        retry_schedule=clean_schedule,
        ordered=bool(ordered),
        kind=kind,
        destination=clean_destination,
        disabled_reason="" if enabled else "disabled when created",
        disabled_at=None if enabled else timezone.now(),
    )
    endpoint.event_types.set(types)
    secret_store(endpoint=endpoint, secret=secret)
    return endpoint, secret_shown(secret)


@transaction.atomic
def endpoint_fields_update(
    *,
    endpoint: Endpoint,
    url: str | None = None,
    description: str | None = None,
    event_types: Iterable[str | EventType] | None = None,
    headers: Mapping[str, str] | None = None,
    rate_limit: int | None = _UNSET,
    uid: str | None = _UNSET,
    channels: Iterable[str] | None = _UNSET,
    metadata: Mapping[str, str] | None = None,
    signature_style: str | None = None,
    payload_filter: Mapping[str, Any] | None = _UNSET,
    retry_schedule: Sequence[float] | None = _UNSET,
    ordered: bool | None = None,
    destination: Mapping[str, Any] | None = None,
) -> EndpointUpdated:
    """Change what is given of the endpoint row; ``rate_limit=None`` removes the limit
    (``uid=None`` the uid, ``channels=None`` the channels, ``payload_filter=None`` the filter,
    ``retry_schedule=None`` the endpoint's own schedule), omitted leaves it. Returns what its
    deliveries must follow; ``deliveries.services.endpoint_lifecycle.endpoint_update`` does
    that (and enabling or disabling), so callers use that one."""
    if uid is not _UNSET:
        uid = uid_validate(uid, reserved_prefix="ep_")
        taken = Endpoint.objects.filter(tenant_id=endpoint.tenant_id, uid=uid).exclude(
            pk=endpoint.pk
        )
        if uid is not None and taken.exists():
            raise AlreadyExists({"uid": f"An endpoint with uid {uid!r} exists."})
        endpoint.uid = uid
    if channels is not _UNSET:
        endpoint.channels = channels_validate_field(
            list(channels) if channels is not None else None
        )
    if metadata is not None:
        endpoint.metadata = metadata_validate(metadata)
    if rate_limit is not _UNSET:
        endpoint.rate_limit = endpoint_rate_limit_validate(rate_limit)
    if payload_filter is not _UNSET:
        endpoint.payload_filter = payload_filter_validate(payload_filter)
    if retry_schedule is not _UNSET:
        endpoint.retry_schedule = retry_schedule_validate(retry_schedule)
    if ordered and endpoint.kind == Endpoint.Kind.POLL:
        raise ValidationError({"ordered": "A feed is always in publish order."})
    unordered = ordered is not None and endpoint.ordered and not ordered
    if ordered is not None:
        endpoint.ordered = bool(ordered)
    new_kind = False
    if signature_style is not None:
        style = signature_style_validate(signature_style)
        if style == signing_secrets.TWILIO and endpoint.kind == Endpoint.Kind.POLL:
            raise ValidationError({"signature_style": POLL_TWILIO_REFUSED})
        if style == signing_secrets.TWILIO and destinations.is_destination(endpoint.kind):
            raise ValidationError({"signature_style": DESTINATION_TWILIO_REFUSED})
        new_kind = (style == signing_secrets.ED25519) != (
            endpoint.signature_style == signing_secrets.ED25519
        )
        endpoint.signature_style = style
    if url is not None and endpoint.kind == Endpoint.Kind.POLL:
        if url:
            raise ValidationError({"url": "A poll endpoint has no URL: its consumers read it."})
    elif url is not None and destinations.is_destination(endpoint.kind):
        if url and url != endpoint.url:
            raise ValidationError(
                {"url": "A destination has no URL: give its options in destination."}
            )
    elif url is not None:
        endpoint.url = endpoint_url_validate(url, operations=endpoint.tenant.is_operations)
    if destination is not None:
        if not destinations.is_destination(endpoint.kind):
            raise ValidationError(
                {"destination": f"A {endpoint.kind} endpoint has no destination options."}
            )
        endpoint.destination, endpoint.url = destination_validate(
            kind=endpoint.kind,
            config=destination,
            stored=endpoint.destination or {},
            operations=endpoint.tenant.is_operations,
        )
    if description is not None:
        endpoint.description = description[:500]
    if headers is not None:
        endpoint.headers = headers_seal(endpoint_headers_validate(headers), endpoint.headers or {})
    if event_types is not None:
        current = endpoint.event_types.values_list("name", flat=True)
        endpoint.event_types.set(
            _event_types_resolve(event_types, tenant=endpoint.tenant, keep=current)
        )
    endpoint.save()
    if new_kind:
        # Ed25519 signs with a key pair, the other styles with a shared secret: a new current
        # key of the kind the style needs (read it, or its public key, at /secret/).
        endpoint_secret_rotate(endpoint=endpoint)
    return EndpointUpdated(endpoint=endpoint, unordered=unordered)


def endpoint_mark_disabled(*, endpoint: Endpoint, reason: str) -> bool:
    """Mark ``endpoint`` disabled with ``reason``; True if it was enabled (refreshes it).
    Its deliveries follow in ``deliveries.services.endpoint_lifecycle.endpoint_disable``."""
    now = timezone.now()
    updated = Endpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_reason=reason[:500], disabled_at=now, updated_at=now
    )
    endpoint.refresh_from_db()
    return bool(updated)


def endpoint_mark_enabled(*, endpoint: Endpoint) -> bool:
    """Mark ``endpoint`` enabled with a closed circuit and no failure run; True if it was
    disabled (refreshes it). Its deliveries follow in
    ``deliveries.services.endpoint_lifecycle.endpoint_enable``."""
    now = timezone.now()
    updated = Endpoint.objects.filter(
        pk=endpoint.pk, enabled=False, deleted_at__isnull=True
    ).update(
        enabled=True,
        disabled_reason="",
        disabled_at=None,
        failing_since=None,
        updated_at=now,
        **_CIRCUIT_CLOSED,
    )
    endpoint.refresh_from_db()
    return bool(updated)


# A person saying "try again now": the circuit closes and the failure run starts over.
_CIRCUIT_CLOSED = {
    "circuit_state": "closed",
    "circuit_opened_at": None,
    "circuit_next_probe_at": None,
    "circuit_failed_probes": 0,
    "circuit_probe_at": None,
    "consecutive_failures": 0,
}


def endpoint_circuit_close(*, endpoint: Endpoint) -> bool:
    """Close ``endpoint``'s circuit and start its failure run over; True if it was open
    (refreshes it). ``deliveries.services.endpoint_lifecycle.endpoint_circuit_reset`` also sends
    what waits for it."""
    now = timezone.now()
    was_open = Endpoint.objects.filter(pk=endpoint.pk, circuit_state="open").exists()
    Endpoint.objects.filter(pk=endpoint.pk).update(updated_at=now, **_CIRCUIT_CLOSED)
    endpoint.refresh_from_db()
    return was_open


def endpoint_mark_deleted(*, endpoint: Endpoint) -> None:
    """Soft delete the row: it stops receiving, its history stays readable by support.
    ``deliveries.services.endpoint_lifecycle.endpoint_delete`` also cancels what waits."""
    now = timezone.now()
    Endpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, deleted_at=now, disabled_at=now, disabled_reason="deleted", updated_at=now
    )
