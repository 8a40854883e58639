"""Bulk publish: up to ``MAX_BATCH`` events of one tenant in one INSERT, each checked as a
single publish is, with a result per item."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from deliveries.errors import PayloadTooLarge, PublishError
from deliveries.models import Event
from endpoints.models import EventType, Tenant
from platform_core import metrics

from .dispatch import fan_out_signal
from .event_build import _event_build, _idempotency_key_check, _tenant_resolve

MAX_BATCH = 1000


@dataclass(frozen=True)
class PublishResult:
    """What became of one item of a bulk publish.

    ``status`` is ``created``, ``existing`` (its idempotency key was published before, or earlier
    in the same batch: ``event`` is that first event) or ``error`` (``error`` says why, exactly
    as a single publish would, and ``code`` is ``payload_too_large`` or ``validation_error``).
    """

    status: str
    event: Event | None = None
    error: str = ""
    code: str = ""


def events_publish(
    *, tenant: Tenant | str, items: Sequence[Mapping[str, Any]]
) -> list[PublishResult]:
    """Publish up to ``MAX_BATCH`` events of one tenant: one INSERT for all that pass.

    Each item is a mapping with ``event_type``, ``payload`` and optionally ``idempotency_key``,
    ``channels``, ``tags`` and ``deliver_at``.
    Items are checked as ``event_publish`` checks one; a bad item gets its error in its result
    and does not stop the others. The results are in the order of ``items``. Runs in the
    caller's transaction, and the fan-out of the whole batch is one broker message after commit.
    """
    if len(items) > MAX_BATCH:
        raise PublishError(f"a batch holds at most {MAX_BATCH} events; this one has {len(items)}")
    tenant_obj = _tenant_resolve(tenant)
    names = [n for item in items if isinstance(n := item.get("event_type"), str)]
    types = {
        t.name: t
        for t in EventType.objects.filter(name__in=names)
        if tenant_obj.is_operations or not t.internal
    }
    keys = [k for item in items if isinstance(k := item.get("idempotency_key"), str)]
    existing = {
        e.idempotency_key: e
        for e in Event.objects.filter(tenant=tenant_obj, idempotency_key__in=keys).select_related(
            "event_type"
        )
    }
    created_at = timezone.now()
    results: list[PublishResult] = []
    new: dict[str | None, Event] = {}
    rows: list[Event] = []
    for item in items:
        key = item.get("idempotency_key")
        try:
            _idempotency_key_check(key)
            if key in existing:
                results.append(PublishResult("existing", existing[key]))
                continue
            if key is not None and key in new:
                results.append(PublishResult("existing", new[key]))
                continue
            name = item.get("event_type")
            if not isinstance(name, str) or not name:
                raise PublishError("event_type is required")
            if name not in types:
                raise PublishError(f"unknown event type {name!r}")
            if types[name].archived:
                raise PublishError(f"event type {name!r} is archived")
            if "payload" not in item:
                raise PublishError("payload is required")
            event = _event_build(
                tenant=tenant_obj,
                type_obj=types[name],
                payload=item["payload"],
                idempotency_key=key,
                created_at=created_at,
                channels=item.get("channels"),
                tags=item.get("tags"),
                deliver_at=item.get("deliver_at"),
            )
        except PublishError as exc:
            code = "payload_too_large" if isinstance(exc, PayloadTooLarge) else "validation_error"
            results.append(PublishResult("error", error=str(exc), code=code))
            continue
        rows.append(event)
        if key is not None:
            new[key] = event
        results.append(PublishResult("created", event))
    if not rows:
        return results
    # A concurrent publisher may have taken one of the keys since the lookup: its row is kept,
    # ours skipped, and the item reports the event that was stored.
    Event.objects.bulk_create(rows, ignore_conflicts=bool(new))
    if new:
        stored = {
            e.idempotency_key: e
            for e in Event.objects.filter(tenant=tenant_obj, idempotency_key__in=list(new))
        }
        results = [_reconcile(result, stored) for result in results]
    for result in results:
        if result.status == "created" and result.event is not None:
            metrics.event_published(event_type=result.event.event_type.name)
    ids = [r.event.pk for r in results if r.status == "created" and r.event is not None]
    if ids:
        transaction.on_commit(lambda: fan_out_signal(tenant_id=tenant_obj.pk, event_ids=ids))
    return results


def _reconcile(result: PublishResult, stored: dict[str, Event]) -> PublishResult:
    """A created result whose key a concurrent publisher stored first becomes ``existing``."""
    event = result.event
    if result.status != "created" or event is None or event.idempotency_key is None:
        return result
    winner = stored[event.idempotency_key]
    return result if winner.pk == event.pk else PublishResult("existing", winner)
