"""This worker process's engine: created on first use, started by the worker's signals."""

from __future__ import annotations

import threading

from deliveries.models import Delivery

from .pump import Engine

_engine: Engine | None = None
_engine_lock = threading.Lock()


def engine() -> Engine:
    """This process's engine (created on first use, started by the worker)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Engine()
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
