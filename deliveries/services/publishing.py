from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
from django.db import IntegrityError, transaction
from django.utils import timezone

from deliveries import PayloadTooLarge, PublishError
from deliveries.models import Event
from endpoints.models import Endpoint, EventType, Tenant
from webhooks_platform import metrics
from webhooks_platform.conf import webhooks_settings

MAX_IDEMPOTENCY_KEY_LENGTH = 255


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_body(*, event_type: str, created_at: datetime, payload: Any) -> str:
    """The JSON body of an event, exactly as it is signed and sent."""
    try:
        return json.dumps(
            {"type": event_type, "timestamp": _timestamp(created_at), "data": payload},
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        )
    except (TypeError, ValueError, RecursionError) as exc:
        raise PublishError(f"payload is not JSON-serialisable: {exc}") from exc


def _tenant_resolve(tenant: Tenant | str) -> Tenant:
    if isinstance(tenant, Tenant):
        return tenant
    found = Tenant.objects.filter(slug=str(tenant)).first()
    if found is None:
        raise PublishError(f"unknown tenant {tenant!r}")
    return found


def _event_type_resolve(event_type: EventType | str) -> EventType:
    name = event_type.name if isinstance(event_type, EventType) else str(event_type)
    found = EventType.objects.filter(name=name).first()
    if found is None:
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


def event_publish(
    *,
    tenant: Tenant | str,
    event_type: EventType | str,
    payload: Any,
    idempotency_key: str | None = None,
    only_endpoint: Endpoint | None = None,
) -> Event:
    """Store one event and enqueue its fan-out when the caller's transaction commits.

    One INSERT whatever the number of subscribers: the fan-out runs in a worker. A repeated
    ``idempotency_key`` for the tenant returns the first event and enqueues nothing.
    """
    if idempotency_key is not None:
        if not isinstance(idempotency_key, str) or not idempotency_key.strip():
            raise PublishError("idempotency_key must be a non-empty string")
        if len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            raise PublishError(
                f"idempotency_key is longer than {MAX_IDEMPOTENCY_KEY_LENGTH} characters"
            )
    tenant_obj = _tenant_resolve(tenant)
    if idempotency_key is not None:
        existing = Event.objects.filter(tenant=tenant_obj, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    type_obj = _event_type_resolve(event_type)
    created_at = timezone.now()
    body = event_body(event_type=type_obj.name, created_at=created_at, payload=payload)
    limit = webhooks_settings().max_payload_bytes
    size = len(body.encode("utf-8"))
    if size > limit:
        raise PayloadTooLarge(f"payload is {size} bytes once encoded; the limit is {limit} bytes")
    _schema_check(type_obj, payload)
    event = Event(
        tenant=tenant_obj,
        event_type=type_obj,
        body=body,
        idempotency_key=idempotency_key,
        only_endpoint=only_endpoint,
        created_at=created_at,
        fanout_dispatched_until=created_at
        + timedelta(seconds=webhooks_settings().dispatch_timeout),
    )
    if idempotency_key is None:
        # Nothing can conflict: a plain INSERT, without the savepoint's two extra round trips.
        event.save(force_insert=True)
    else:
        try:
            with transaction.atomic():
                event.save(force_insert=True)
        except IntegrityError:
            # Another caller published the same key between our check and our insert.
            return Event.objects.get(tenant=tenant_obj, idempotency_key=idempotency_key)

    metrics.event_published(event_type=type_obj.name)
    from deliveries.services.dispatch import fan_out_send, fan_out_signal

    if only_endpoint is None:
        transaction.on_commit(lambda: fan_out_signal(tenant_id=event.tenant_id, event_id=event.pk))
    else:
        transaction.on_commit(lambda: fan_out_send([event.pk]))
    return event


def event_send_test(*, endpoint: Endpoint, event_type: EventType | str) -> Event:
    """An example event of ``event_type`` to ``endpoint`` only, through the normal pipeline."""
    if not endpoint.enabled:
        raise PublishError("the endpoint is disabled; enable it before sending a test event")
    type_obj = _event_type_resolve(event_type)
    example = type_obj.example if type_obj.example is not None else {"test": True}
    return event_publish(
        tenant=endpoint.tenant,
        event_type=type_obj,
        payload=example,
        only_endpoint=endpoint,
    )
