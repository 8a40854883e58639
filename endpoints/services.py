"""Writes to tenants, event types and endpoints. Every rule about them lives here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import jsonschema
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from deliveries import signing
from webhooks_platform.conf import webhooks_settings

from . import crypto, url_safety
from .models import EVENT_TYPE_NAME_RE, ApiKey, Endpoint, EndpointSecret, EventType, Tenant

MAX_ROTATION_GRACE_SECONDS = 7 * 86400
MAX_CUSTOM_HEADERS = 20
MAX_CUSTOM_HEADERS_BYTES = 8 * 1024
# Headers the platform sets itself, or that would change how the request is framed or routed.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "host",
        "user-agent",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "proxy-authorization",
        "proxy-connection",
    }
)


SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "proxy-authenticate",
        "www-authenticate",
        "cookie",
        "x-api-key",
        "x-auth-token",
        "api-key",
        "apikey",
    }
)
_SENSITIVE_PARTS = ("token", "secret", "password", "passwd", "api-key", "apikey", "credential")
REDACTED = "[redacted]"


def is_sensitive_header(name: str) -> bool:
    """Headers that carry credentials: their values are never shown back nor stored in
    attempts (``Authorization``, ``X-Api-Key``, any ``…-Token``, ``…-Secret``…)."""
    lower = name.lower()
    return lower in SENSITIVE_HEADERS or any(part in lower for part in _SENSITIVE_PARTS)


def headers_redacted(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with the values of credential headers replaced, as an attempt stores them."""
    return {k: (REDACTED if is_sensitive_header(k) else v) for k, v in headers.items()}


def is_platform_header(name: str) -> bool:
    """Headers the platform sets (or that frame the request); endpoints may not set them."""
    lower = name.lower()
    return lower in RESERVED_HEADERS or lower.startswith(("webhook-", "svix-"))


_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class AlreadyExists(ValidationError):  # noqa: N818  (a ValidationError, named for the case)
    """The name or uid is taken (the native API answers 400, the Svix-compatible one 409)."""


_UNSET: Any = object()
_UID_RE = re.compile(r"^[a-zA-Z0-9_.\-]{1,256}$")
MAX_METADATA_BYTES = 8 * 1024


def uid_validate(uid: Any, *, field: str = "uid", reserved_prefix: str = "") -> str | None:
    """A caller's own key for an object: 1-256 letters, digits, '-', '_' or '.'; None for none.

    It may not start with the prefix of the platform's ids (``app_``, ``ep_``), so that a path
    segment can never mean both an id and a uid."""
    if uid is None:
        return None
    if not isinstance(uid, str) or not _UID_RE.match(uid):
        raise ValidationError({field: "Use 1-256 letters, digits, '-', '_' or '.'."})
    if reserved_prefix and uid.startswith(reserved_prefix):
        raise ValidationError({field: f"A uid may not start with {reserved_prefix!r}."})
    return uid


def json_storable(value: Any, field: str) -> Any:
    """``value`` unless it holds a string PostgreSQL's JSON cannot store: a NUL (``\\u0000``)
    or a lone UTF-16 surrogate (not text at all)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError({field: f"Not storable as JSON: {exc}"}) from exc
    except UnicodeEncodeError as exc:
        raise ValidationError(
            {field: "A string holds a lone UTF-16 surrogate (such as \\ud800), which is not text."}
        ) from exc
    if "\\u0000" in text:
        raise ValidationError({field: "A string holds a NUL character (\\u0000)."})
    return value


def metadata_validate(metadata: Any) -> dict[str, str]:
    """Free-form labels: an object of strings to strings, up to 8 KB."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ValidationError({"metadata": "Metadata is an object of strings to strings."})
    if sum(len(k) + len(v) for k, v in metadata.items()) > MAX_METADATA_BYTES:
        raise ValidationError({"metadata": f"Metadata is at most {MAX_METADATA_BYTES} bytes."})
    return json_storable(dict(metadata), "metadata")


def channels_validate_field(channels: Any) -> list[str]:
    from deliveries import PublishError
    from deliveries.services.publishing import channels_validate

    try:
        return channels_validate(channels)
    except PublishError as exc:
        raise ValidationError({"channels": str(exc)}) from exc


def _message_format_validate(value: Any) -> str:
    if value not in Tenant.MessageFormat.values:
        raise ValidationError(
            {"message_format": f"Use one of: {', '.join(Tenant.MessageFormat.values)}."}
        )
    return value


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
) -> Tenant:
    """Change what is given; ``uid=None`` removes the uid, omitted leaves it."""
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
    return _tenant_save(tenant, creating=False)


@transaction.atomic
def tenant_delete(*, tenant: Tenant) -> None:
    """Delete a tenant with its endpoints, events, deliveries and keys (Svix's app delete)."""
    Tenant.objects.filter(pk=tenant.pk).delete()


# --- Event types -----------------------------------------------------------------------------


def _validate_schema(schema: Any) -> None:
    if schema is None:
        return
    json_storable(schema, "schema")
    if not isinstance(schema, dict):
        raise ValidationError({"schema": "A JSON Schema is a JSON object."})
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValidationError({"schema": f"Not a valid JSON Schema: {exc.message}"}) from exc


def _validate_example(schema: Any, example: Any) -> None:
    if example is not None:
        json_storable(example, "example")
    if schema is None or example is None:
        return
    try:
        jsonschema.validate(example, schema)
    except jsonschema.ValidationError as exc:
        raise ValidationError(
            {"example": f"The example does not match the schema: {exc.message}"}
        ) from exc


def _schemas_validate(schemas: Any) -> Any:
    """Svix's ``schemas``: an object of version to JSON Schema, stored as given."""
    if schemas is None:
        return None
    if not isinstance(schemas, Mapping) or not all(
        isinstance(v, Mapping) for v in schemas.values()
    ):
        raise ValidationError({"schemas": "Give an object of version to JSON Schema object."})
    return json_storable(dict(schemas), "schemas")


def event_type_create(
    *,
    name: str,
    description: str = "",
    schema: Any = None,
    example: Any = None,
    schemas: Any = None,
    deprecated: bool = False,
    feature_flag: str = "",
    archived: bool = False,
) -> EventType:
    name = (name or "").strip()
    if not re.match(EVENT_TYPE_NAME_RE, name) or len(name) > 128:
        raise ValidationError(
            {
                "name": "Use a dotted name of letters, digits, '_' and '-', such as invoice.paid "
                "(at most 128 characters)."
            }
        )
    _validate_schema(schema)
    _validate_example(schema, example)
    try:
        with transaction.atomic():
            return EventType.objects.create(
                name=name,
                description=description or "",
                schema=schema,
                example=example,
                schemas=_schemas_validate(schemas),
                deprecated=bool(deprecated),
                feature_flag=(feature_flag or "")[:256],
                archived=bool(archived),
            )
    except IntegrityError as exc:
        raise AlreadyExists({"name": f"Event type {name!r} already exists."}) from exc


def event_type_update(
    *,
    event_type: EventType,
    description: str | None = None,
    schema: Any = _UNSET,
    example: Any = _UNSET,
    archived: bool | None = None,
    schemas: Any = _UNSET,
    deprecated: bool | None = None,
    feature_flag: str | None = None,
) -> EventType:
    if schemas is not _UNSET:
        event_type.schemas = _schemas_validate(schemas)
    if deprecated is not None:
        event_type.deprecated = bool(deprecated)
    if feature_flag is not None:
        event_type.feature_flag = feature_flag[:256]
    new_schema = event_type.schema if schema is _UNSET else schema
    new_example = event_type.example if example is _UNSET else example
    _validate_schema(new_schema)
    _validate_example(new_schema, new_example)
    if description is not None:
        event_type.description = description
    event_type.schema = new_schema
    event_type.example = new_example
    if archived is not None:
        event_type.archived = archived
    event_type.save()
    return event_type


def event_type_archive(*, event_type: EventType) -> EventType:
    """Archiving stops new events of the type; history and subscriptions stay."""
    return event_type_update(event_type=event_type, archived=True)


def event_type_delete(*, event_type: EventType) -> None:
    """Delete a type for good; only one no event was ever published with (archive the others)."""
    from django.db.models import ProtectedError

    try:
        with transaction.atomic():
            event_type.delete()
    except ProtectedError as exc:
        raise AlreadyExists(
            {"name": f"Events of {event_type.name!r} exist; archive the type instead."}
        ) from exc


# --- Endpoints -------------------------------------------------------------------------------


def endpoint_url_validate(url: str) -> str:
    ws = webhooks_settings()
    url = (url or "").strip()
    try:
        url_safety.check_url(url, allowed=ws.allowed_subnets, require_https=ws.require_https)
    except url_safety.UnsafeURL as exc:
        raise ValidationError({"url": str(exc)}) from exc
    return url


MAX_RATE_LIMIT = 10_000


def endpoint_rate_limit_validate(rate_limit: Any) -> int | None:
    """Deliveries per second, enforced across every worker; None means no limit."""
    if rate_limit is None:
        return None
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, int):
        raise ValidationError({"rate_limit": "Give a whole number of deliveries per second."})
    if not 1 <= rate_limit <= MAX_RATE_LIMIT:
        raise ValidationError(
            {"rate_limit": f"Give 1 to {MAX_RATE_LIMIT} deliveries per second, or null."}
        )
    return rate_limit


def endpoint_headers_validate(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ValidationError({"headers": "Headers are an object of header name to value."})
    if len(headers) > MAX_CUSTOM_HEADERS:
        raise ValidationError({"headers": f"At most {MAX_CUSTOM_HEADERS} custom headers."})
    clean: dict[str, str] = {}
    size = 0
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME_RE.match(name):
            raise ValidationError({"headers": f"{name!r} is not a valid header name."})
        lower = name.lower()
        if is_platform_header(lower):
            raise ValidationError(
                {"headers": f"{name!r} is set by the platform and cannot be overridden."}
            )
        if lower in {n.lower() for n in clean}:
            raise ValidationError({"headers": f"{name!r} is given twice."})
        if not isinstance(value, str):
            raise ValidationError({"headers": f"The value of {name!r} must be a string."})
        if any(c in value for c in "\r\n"):
            raise ValidationError({"headers": f"The value of {name!r} has a line break."})
        if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
            raise ValidationError(
                {"headers": f"The value of {name!r} has a control character (only tab is allowed)."}
            )
        size += len(name) + len(value)
        clean[name] = value
    if size > MAX_CUSTOM_HEADERS_BYTES:
        raise ValidationError(
            {
                "headers": f"Custom headers total {size} bytes; "
                f"the limit is {MAX_CUSTOM_HEADERS_BYTES}."
            }
        )
    return clean


def _event_types_resolve(
    names: Iterable[str | EventType], *, keep: Iterable[str] = ()
) -> list[EventType]:
    """The event types named; archived ones only if already subscribed (``keep``), so editing
    an endpoint does not silently drop a subscription to a type archived since."""
    wanted = {n.name if isinstance(n, EventType) else str(n) for n in names}
    found = {et.name: et for et in EventType.objects.filter(name__in=wanted)}
    missing = sorted(wanted - set(found))
    if missing:
        raise ValidationError({"event_types": f"Unknown event types: {', '.join(missing)}."})
    kept = set(keep)
    archived = sorted(n for n, et in found.items() if et.archived and n not in kept)
    if archived:
        raise ValidationError({"event_types": f"Archived event types: {', '.join(archived)}."})
    return list(found.values())


def _secret_or_new(secret: str | None) -> str:
    """A caller's own ``whsec_`` secret, validated, or a freshly generated one."""
    if secret is None:
        return signing.secret_generate()
    try:
        signing.secret_key(secret)
    except signing.InvalidSecret as exc:
        raise ValidationError({"secret": str(exc)}) from exc
    return secret


def _secret_store(*, endpoint: Endpoint, secret: str) -> EndpointSecret:
    return EndpointSecret.objects.create(endpoint=endpoint, encrypted=crypto.encrypt(secret))


@transaction.atomic
def endpoint_create(
    *,
    tenant: Tenant,
    url: str,
    description: str = "",
    event_types: Iterable[str | EventType] = (),
    headers: Mapping[str, str] | None = None,
    enabled: bool = True,
    secret: str | None = None,
    rate_limit: int | None = None,
    uid: str | None = None,
    channels: Iterable[str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> tuple[Endpoint, str]:
    """Create an endpoint and its first signing secret; returns both (the secret in clear once)."""
    uid = uid_validate(uid, reserved_prefix="ep_")
    channel_names = channels_validate_field(list(channels) if channels is not None else None)
    clean_metadata = metadata_validate(metadata)
    url = endpoint_url_validate(url)
    rate_limit = endpoint_rate_limit_validate(rate_limit)
    clean_headers = endpoint_headers_validate(headers)
    types = _event_types_resolve(event_types)
    secret = _secret_or_new(secret)
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
        disabled_reason="" if enabled else "disabled when created",
        disabled_at=None if enabled else timezone.now(),
    )
    endpoint.event_types.set(types)
    _secret_store(endpoint=endpoint, secret=secret)
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *,
    endpoint: Endpoint,
    url: str | None = None,
    description: str | None = None,
    event_types: Iterable[str | EventType] | None = None,
    headers: Mapping[str, str] | None = None,
    enabled: bool | None = None,
    rate_limit: int | None = _UNSET,
    uid: str | None = _UNSET,
    channels: Iterable[str] | None = _UNSET,
    metadata: Mapping[str, str] | None = None,
) -> Endpoint:
    """Change what is given; ``rate_limit=None`` removes the limit (``uid=None`` the uid,
    ``channels=None`` the channels), omitted leaves it."""
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
    if url is not None:
        endpoint.url = endpoint_url_validate(url)
    if description is not None:
        endpoint.description = description[:500]
    if headers is not None:
        endpoint.headers = endpoint_headers_validate(headers)
    if event_types is not None:
        current = endpoint.event_types.values_list("name", flat=True)
        endpoint.event_types.set(_event_types_resolve(event_types, keep=current))
    endpoint.save()
    if enabled is True and not endpoint.enabled:
        endpoint_enable(endpoint=endpoint)
    elif enabled is False and endpoint.enabled:
        endpoint_disable(endpoint=endpoint, reason="disabled by user")
    return endpoint


@transaction.atomic
def endpoint_disable(*, endpoint: Endpoint, reason: str) -> Endpoint:
    """Stop delivering to ``endpoint``; what was waiting is cancelled (and revived on enable)."""
    from deliveries.services.lifecycle import deliveries_cancel_for_endpoint
    from deliveries.services.operational import endpoint_state_changed

    now = timezone.now()
    updated = Endpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_reason=reason[:500], disabled_at=now, updated_at=now
    )
    endpoint.refresh_from_db()
    if updated:
        deliveries_cancel_for_endpoint(endpoint_id=endpoint.pk, reason="endpoint disabled")
        endpoint_state_changed(endpoint=endpoint, event="endpoint.disabled", reason=reason)
    return endpoint


@transaction.atomic
def endpoint_enable(*, endpoint: Endpoint) -> Endpoint:
    """Deliver again, resuming the deliveries cancelled by the disable still in the retry window."""
    from deliveries.services.lifecycle import deliveries_resume_for_endpoint
    from deliveries.services.operational import endpoint_state_changed

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
    if updated:
        deliveries_resume_for_endpoint(endpoint_id=endpoint.pk)
        endpoint_state_changed(endpoint=endpoint, event="endpoint.enabled")
    return endpoint


# A person saying "try again now": the circuit closes and the failure run starts over.
_CIRCUIT_CLOSED = {
    "circuit_state": "closed",
    "circuit_opened_at": None,
    "circuit_next_probe_at": None,
    "consecutive_failures": 0,
}


@transaction.atomic
def endpoint_circuit_reset(*, endpoint: Endpoint) -> int:
    """Close ``endpoint``'s circuit and send what waits for it now; returns how many go.

    For a person who fixed the receiver and will not wait for the next probe. If the receiver
    still fails, the circuit opens again after the usual run of failures.
    """
    from deliveries.models import Delivery
    from deliveries.services.dispatch import deliveries_dispatch
    from deliveries.services.operational import endpoint_state_changed

    now = timezone.now()
    was_open = Endpoint.objects.filter(pk=endpoint.pk, circuit_state="open").exists()
    Endpoint.objects.filter(pk=endpoint.pk).update(updated_at=now, **_CIRCUIT_CLOSED)
    endpoint.refresh_from_db()
    waiting = list(
        Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING).values_list(
            "id", flat=True
        )
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
    """Soft delete: the endpoint stops receiving, its history stays readable by support."""
    from deliveries.services.lifecycle import deliveries_cancel_for_endpoint

    now = timezone.now()
    Endpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, deleted_at=now, disabled_at=now, disabled_reason="deleted", updated_at=now
    )
    deliveries_cancel_for_endpoint(endpoint_id=endpoint.pk, reason="endpoint deleted")


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
    return endpoint_secrets_live(endpoint_ids=[endpoint.pk]).get(endpoint.pk, [""])[0]


@transaction.atomic
def endpoint_secret_rotate(
    *, endpoint: Endpoint, grace_period_seconds: int | None = None, secret: str | None = None
) -> str:
    """Make a new current secret; the old ones keep signing for the grace period."""
    grace = (
        webhooks_settings().secret_rotation_grace
        if grace_period_seconds is None
        else grace_period_seconds
    )
    if (
        not isinstance(grace, int)
        or isinstance(grace, bool)
        or not 0 <= grace <= MAX_ROTATION_GRACE_SECONDS
    ):
        raise ValidationError(
            {"grace_period_seconds": f"Give 0 to {MAX_ROTATION_GRACE_SECONDS} seconds."}
        )
    secret = _secret_or_new(secret)
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
    _secret_store(endpoint=endpoint, secret=secret)
    return secret


def secrets_reencrypt() -> int:
    """Rewrite every stored secret under the newest encryption key; returns how many."""
    count = 0
    for row in EndpointSecret.objects.only("id", "encrypted").iterator(chunk_size=500):
        rotated = crypto.rotate(row.encrypted)
        if rotated != row.encrypted:
            EndpointSecret.objects.filter(pk=row.pk).update(encrypted=rotated)
            count += 1
    return count


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
    from .models import AuditEntry

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


def api_key_create(*, tenant: Tenant | None = None, name: str = "") -> tuple[ApiKey, str]:
    """A new key; returns the row and the key in clear, which is never stored or shown again.

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
