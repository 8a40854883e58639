from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from deliveries.errors import PublishError, TenantGone
from deliveries.models import Event
from endpoints.models import Endpoint, EventType, Tenant
from platform_core import metrics
from platform_core.db import bound_cursor

from .dispatch import fan_out_send, fan_out_signal
from .event_build import (  # noqa: F401  (re-exported: callers import them from here)
    EventExists,
    _event_build,
    _event_type_resolve,
    _idempotency_key_check,
    _schema_check,
    _tenant_resolve,
    deliver_at_validate,
    event_body,
    payload_check,
)


def event_publish(
    *,
    tenant: Tenant | str,
    event_type: EventType | str,
    payload: Any,
    idempotency_key: str | None = None,
    only_endpoint: Endpoint | None = None,
    channels: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    repeat_raises: bool = False,
    test: bool = False,
    deliver_at: datetime | str | None = None,
) -> Event:
    """Store one event and enqueue its fan-out when the caller's transaction commits.

    One INSERT whatever the number of subscribers: the fan-out runs in a worker. A repeated
    ``idempotency_key`` for the tenant returns the first event and enqueues nothing, or with
    ``repeat_raises`` raises ``EventExists`` (the Svix API answers a repeated ``eventId`` 409).
    ``channels``: only endpoints with a channel in common receive it, besides endpoints without
    channels; ``tags`` are labels to search by. ``test``: a test event, marked so that its
    receiver can tell it from a real one. ``deliver_at``: its deliveries wait until then (up to
    30 days ahead; see ``deliver_at_validate``).
    """
    _idempotency_key_check(idempotency_key)
    tenant_obj = _tenant_resolve(tenant)
    name = event_type.name if isinstance(event_type, EventType) else str(event_type)
    fast = idempotency_key is None and only_endpoint is None and not test
    if fast and connection.vendor == "postgresql":
        with tenant_kept(tenant_obj):
            event = _publish_with_type_seen(
                tenant=tenant_obj,
                name=name,
                payload=payload,
                channels=channels,
                tags=tags,
                deliver_at=deliver_at,
            )
        if event is not None:
            return _published(event, only_endpoint=None)
    if idempotency_key is not None:
        existing = Event.objects.filter(tenant=tenant_obj, idempotency_key=idempotency_key).first()
        if existing is not None:
            if repeat_raises:
                raise EventExists(existing)
            return existing
    type_obj = _event_type_resolve(event_type, tenant_obj)
    if len(_types_seen) >= _MAX_TYPES_SEEN:
        _types_seen.clear()
    _types_seen[name] = type_obj
    event = _event_build(
        tenant=tenant_obj,
        type_obj=type_obj,
        payload=payload,
        idempotency_key=idempotency_key,
        created_at=timezone.now(),
        only_endpoint=only_endpoint,
        channels=channels,
        tags=tags,
        test=test,
        deliver_at=deliver_at,
    )
    if idempotency_key is None:
        # Nothing can conflict: a plain INSERT, without the savepoint's two extra round trips.
        with tenant_kept(tenant_obj):
            event.save(force_insert=True)
    else:
        try:
            with transaction.atomic():
                event.save(force_insert=True)
        except IntegrityError:
            # Another caller published the same key between our check and our insert, or the
            # tenant was deleted meanwhile.
            first = Event.objects.filter(tenant=tenant_obj, idempotency_key=idempotency_key)
            if (found := first.first()) is None:
                _tenant_kept_check(tenant_obj)
                raise
            if repeat_raises:
                raise EventExists(found) from None
            return found
    return _published(event, only_endpoint=only_endpoint)


@contextmanager
def tenant_kept(tenant: Tenant) -> Iterator[None]:
    """Around a publish's INSERT, or the transaction that commits it (the foreign key is checked
    at commit): an IntegrityError because the tenant was deleted meanwhile becomes
    ``TenantGone`` (404 from the APIs) instead of a server error."""
    try:
        yield
    except IntegrityError:
        if connection.in_atomic_block and connection.needs_rollback:
            raise  # the enclosing transaction is broken: the caller's own ``tenant_kept`` asks
        _tenant_kept_check(tenant)
        raise


def _tenant_kept_check(tenant: Tenant) -> None:
    if not Tenant.objects.filter(pk=tenant.pk).exists():
        raise TenantGone(f"tenant {tenant.slug!r} was deleted while the event was published")


def _published(event: Event, *, only_endpoint: Endpoint | None) -> Event:
    """After the INSERT: count it, and enqueue its fan-out for when the transaction commits."""
    metrics.event_published(event_type=event.event_type.name)
    if only_endpoint is None:
        transaction.on_commit(
            lambda: fan_out_signal(tenant_id=event.tenant_id, event_ids=[event.pk])
        )
    else:
        transaction.on_commit(lambda: fan_out_send([event.pk]))
    return event


# Event types as this process last read them, by name: a publish checks its payload against
# the type it saw, and its INSERT stores the event only if the type is still that one.
_types_seen: dict[str, EventType] = {}
_MAX_TYPES_SEEN = 10_000

_EVENT_INSERT_IF_TYPE_UNCHANGED = f"""
INSERT INTO {Event._meta.db_table} (id, tenant_id, event_type_id, body, body_is_payload,
    channels, tags, idempotency_key, only_endpoint_id, created_at, deliver_at, fanned_out_at,
    fanout_dispatched_until)
SELECT %s, %s, t.id, %s, %s, %s::jsonb, %s::jsonb, NULL, NULL, %s, %s, NULL, %s
FROM {EventType._meta.db_table} AS t
WHERE t.id = %s AND t.name = %s AND NOT t.archived AND t.schema IS NOT DISTINCT FROM %s::jsonb
"""  # noqa: S608  (table names from the models; every value is a parameter)


def _publish_with_type_seen(
    *, tenant: Tenant, name: str, payload: Any, channels: Any, tags: Any, deliver_at: Any
) -> Event | None:
    """The common publish (no idempotency key, not a test event) on PostgreSQL, in one
    statement: the payload is checked against the event type this process saw last, and one
    ``INSERT … SELECT`` stores the event only if the type still has that id, is not archived and
    has that schema. None when the type is not known here, or changed, or the payload failed
    the check: the caller then reads the type afresh and publishes the usual way (so an error
    always comes from the type as it is now)."""
    seen = _types_seen.get(name)
    if seen is None or (seen.internal and not tenant.is_operations):
        return None
    try:
        event = _event_build(
            tenant=tenant,
            type_obj=seen,
            payload=payload,
            idempotency_key=None,
            created_at=timezone.now(),
            channels=channels,
            tags=tags,
            deliver_at=deliver_at,
        )
    except PublishError:
        return None
    with bound_cursor() as cursor:
        cursor.execute(
            _EVENT_INSERT_IF_TYPE_UNCHANGED,
            [
                event.pk,
                tenant.pk,
                event.body,
                event.body_is_payload,
                json.dumps(event.channels),
                json.dumps(event.tags),
                event.created_at,
                event.deliver_at,
                event.fanout_dispatched_until,
                seen.pk,
                seen.name,
                None if seen.schema is None else json.dumps(seen.schema),
            ],
        )
        stored = cursor.rowcount == 1
    if not stored:
        _types_seen.pop(name, None)
        return None
    event._state.adding = False
    event._state.db = connection.alias
    return event


def event_send_test(
    *, endpoint: Endpoint, event_type: EventType | str, payload: Any = None
) -> Event:
    """An example event of ``event_type`` to ``endpoint`` only, through the normal pipeline
    (``payload``, or the type's example), marked as a test (``"test": true`` in the envelope,
    ``x-webhook-test: true`` on every request)."""
    if not endpoint.enabled:
        raise PublishError("the endpoint is disabled; enable it before sending a test event")
    type_obj = _event_type_resolve(event_type, endpoint.tenant)
    example = type_obj.example if type_obj.example is not None else {"test": True}
    if payload is not None:
        example = payload
    return event_publish(
        tenant=endpoint.tenant,
        event_type=type_obj,
        payload=example,
        only_endpoint=endpoint,
        test=True,
    )
