"""What a publish checks and builds before its INSERT: the tenant and event type it names, the
payload (JSON, its size, its type's schema), channels and tags, the idempotency key, the delivery
time, and the event row with its body exactly as it will be signed and sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
from django.utils import timezone

from deliveries.errors import PayloadTooLarge, PublishError
from deliveries.models import Event
from endpoints.channels import InvalidChannels
from endpoints.channels import channels_validate as channel_names_validate
from endpoints.models import Endpoint, EventType, Tenant
from platform_core.conf import webhooks_settings

MAX_IDEMPOTENCY_KEY_LENGTH = 255


class EventExists(PublishError):
    """A publish whose idempotency key the tenant has used; ``event`` is the first event."""

    def __init__(self, event: Event) -> None:
        super().__init__(f"an event with idempotency key {event.idempotency_key!r} exists")
        self.event = event


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_body(
    *,
    event_type: str,
    created_at: datetime,
    payload: Any,
    payload_only: bool = False,
    test: bool = False,
) -> str:
    """The JSON body of an event, exactly as it is signed and sent: the Standard Webhooks
    envelope ``{"type", "timestamp", "data"}`` (plus ``"test": true`` for a test event), or with
    ``payload_only`` (a tenant on the Svix message format) the payload itself."""
    value: Any = payload
    if not payload_only:
        value = {"type": event_type, "timestamp": _timestamp(created_at), "data": payload}
        if test:
            value["test"] = True
    try:
        return json.dumps(
            value,
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        )
    except (TypeError, ValueError, RecursionError) as exc:
        raise PublishError(f"payload is not JSON-serialisable: {exc}") from exc


_JSON_KINDS = (
    (bool, "a boolean"),
    (str, "a string"),
    (list, "an array"),
    ((int, float), "a number"),
)


def payload_check(payload: Any) -> None:
    """An event's payload is a JSON object, as Standard Webhooks and Svix define events."""
    if isinstance(payload, dict):
        return
    kind = "null" if payload is None else "a " + type(payload).__name__
    for types, name in _JSON_KINDS:
        if isinstance(payload, types):
            kind = name
            break
    raise PublishError(f"payload must be a JSON object ({{...}}), not {kind}")


def _tenant_resolve(tenant: Tenant | str) -> Tenant:
    if isinstance(tenant, Tenant):
        return tenant
    found = Tenant.objects.filter(slug=str(tenant)).first()
    if found is None:
        raise PublishError(f"unknown tenant {tenant!r}")
    return found


def _event_type_resolve(event_type: EventType | str, tenant: Tenant) -> EventType:
    name = event_type.name if isinstance(event_type, EventType) else str(event_type)
    found = EventType.objects.filter(name=name).first()
    if found is None or (found.internal and not tenant.is_operations):
        raise PublishError(f"unknown event type {name!r}")
    if found.archived:
        raise PublishError(f"event type {name!r} is archived")
    return found


def _schema_check(event_type: EventType, payload: Any) -> None:
    if not event_type.schema:
        return
    validator_cls = jsonschema.validators.validator_for(event_type.schema)
    error = jsonschema.exceptions.best_match(validator_cls(event_type.schema).iter_errors(payload))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise PublishError(
            f"payload does not match the schema of {event_type.name!r} at {where}: {error.message}"
        )


def channels_validate(channels: Any, *, what: str = "channels") -> list[str]:
    """``endpoints.channels.channels_validate``, its error raised as a ``PublishError``."""
    try:
        return channel_names_validate(channels, what=what)
    except InvalidChannels as exc:
        raise PublishError(str(exc)) from exc


def _idempotency_key_check(idempotency_key: Any) -> None:
    if idempotency_key is None:
        return
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        raise PublishError("idempotency_key must be a non-empty string")
    if len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise PublishError(
            f"idempotency_key is longer than {MAX_IDEMPOTENCY_KEY_LENGTH} characters"
        )


MAX_DELIVER_AHEAD = timedelta(days=30)


def deliver_at_validate(value: Any, *, now: datetime) -> datetime | None:
    """When a scheduled event's deliveries go out: an aware datetime (or ISO 8601 text with an
    offset) up to ``MAX_DELIVER_AHEAD`` ahead. None, or a time already past: at once."""
    if value is None:
        return None
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise PublishError(
                f"deliver_at {value[:40]!r} is not an ISO 8601 time such as 2026-12-24T18:00:00Z"
            ) from None
    if not isinstance(moment, datetime):
        raise PublishError("deliver_at must be an ISO 8601 time such as 2026-12-24T18:00:00Z")
    if timezone.is_naive(moment):
        raise PublishError("deliver_at needs a time zone (such as Z or +01:00)")
    if moment > now + MAX_DELIVER_AHEAD:
        raise PublishError(
            f"deliver_at is at most {MAX_DELIVER_AHEAD.days} days ahead; "
            f"{_timestamp(moment)} is later than {_timestamp(now + MAX_DELIVER_AHEAD)}"
        )
    return moment if moment > now else None


def _event_build(
    *,
    tenant: Tenant,
    type_obj: EventType,
    payload: Any,
    idempotency_key: str | None,
    created_at: datetime,
    only_endpoint: Endpoint | None = None,
    channels: Any = None,
    tags: Any = None,
    test: bool = False,
    deliver_at: Any = None,
) -> Event:
    """The unsaved event for one publish, after every check but the idempotency key's."""
    payload_check(payload)
    payload_only = tenant.message_format == Tenant.MessageFormat.SVIX
    body = event_body(
        event_type=type_obj.name,
        created_at=created_at,
        payload=payload,
        payload_only=payload_only,
        test=test,
    )
    ws = webhooks_settings()
    limit = ws.max_payload_bytes
    try:
        size = len(body.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise PublishError(
            "payload holds a lone UTF-16 surrogate (such as \\ud800), which is not text"
        ) from exc
    if size > limit:
        raise PayloadTooLarge(f"payload is {size} bytes once encoded; the limit is {limit} bytes")
    _schema_check(type_obj, payload)
    scheduled = deliver_at_validate(deliver_at, now=created_at)
    return Event(
        tenant=tenant,
        event_type=type_obj,
        body=body,
        body_is_payload=payload_only,
        channels=channels_validate(channels),
        tags=channels_validate(tags, what="tags"),
        idempotency_key=idempotency_key,
        only_endpoint=only_endpoint,
        is_test=test,
        created_at=created_at,
        deliver_at=scheduled,
        fanout_dispatched_until=created_at + timedelta(seconds=ws.dispatch_timeout),
    )
