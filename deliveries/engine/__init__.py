"""The delivery engine: claim, gate, send, record.

- ``claim``: due work found and claimed in single statements returning plain rows;
- ``gate``: what each endpoint may send now (adaptive window, circuit breaker, rate limit) and
  the per-process endpoint and secret cache;
- ``pump``: the loop that claims only what it can start, launches it and records the results;
- ``record``: attempts and next states written in bulk; ``health``: circuit and disabling;
- ``state``: what a finished try makes of a delivery, shared with the sweeper.

Selected by ``WEBHOOKS_ENGINE`` (``engine``; ``classic`` is the batch sender in
``deliveries.services.sending``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from django.conf import settings


def engine_enabled() -> bool:
    return getattr(settings, "WEBHOOKS_ENGINE", "engine") == "engine"


class _Wakeable(Protocol):
    running: bool

    def wake(self, endpoint_ids: Iterable[str]) -> None: ...


_local: _Wakeable | None = None


def register_local(engine: _Wakeable | None) -> None:
    """The engine now running in this process (the pump registers itself when it starts)."""
    global _local
    _local = engine


def wake_local(endpoint_ids: Iterable[str]) -> bool:
    """Wake this process's engine for ``endpoint_ids``; False if none runs here."""
    engine = _local
    if engine is None or not engine.running:
        return False
    engine.wake(endpoint_ids)
    return True


def has_local() -> bool:
    return _local is not None and _local.running
