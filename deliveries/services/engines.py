"""This worker process's delivery engine, and the effects it sets off through the services.

The engine (``deliveries.engine``) never imports the services above it: what a recorded try
sets off beyond its own rows (operational webhooks, disabling an endpoint with its cascade,
waking workers for released deliveries) comes through the ``Effects`` built here.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from deliveries.engine.effects import Effects
from deliveries.engine.loop import Engine
from deliveries.models import Delivery
from endpoints.models import Endpoint

from .dispatch import deliveries_dispatch
from .endpoint_lifecycle import endpoint_disable
from .operational import delivery_exhausted, endpoint_state_changed


def _exhausted(delivery_id: int) -> None:
    delivery_exhausted(delivery=Delivery(pk=delivery_id))


def _state_changed(endpoint_id: str, event: str, reason: str) -> None:
    endpoint_state_changed(endpoint=Endpoint(pk=endpoint_id), event=event, reason=reason)


def _disable(endpoint_id: str, reason: str) -> None:
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is not None:
        endpoint_disable(endpoint=endpoint, reason=reason)


def _dispatch(delivery_ids: Sequence[int]) -> None:
    deliveries_dispatch(delivery_ids=delivery_ids)


ENGINE_EFFECTS = Effects(
    delivery_exhausted=_exhausted,
    endpoint_state_changed=_state_changed,
    endpoint_disable=_disable,
    deliveries_dispatch=_dispatch,
)


def engine_new() -> Engine:
    """A new engine wired to the services (a worker's, or one a test turns in its own thread)."""
    return Engine(effects=ENGINE_EFFECTS)


_engine: Engine | None = None
_engine_lock = threading.Lock()


def engine() -> Engine:
    """This process's engine (created on first use, started by the worker)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = engine_new()
        return _engine


def engine_wake_deliveries(*, delivery_ids: list[int]) -> int:
    """A ``deliver`` message: wake this process's engine for those deliveries' endpoints."""
    endpoint_ids = set(
        Delivery.objects.filter(id__in=delivery_ids, status=Delivery.Status.PENDING)
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
    local = engine()
    local.start()
    if endpoint_ids:
        local.wake(endpoint_ids)
    return len(endpoint_ids)
