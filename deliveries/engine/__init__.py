"""The delivery engine: claim → gate → send → record, one loop per worker process.

- ``loop``: ``Engine``, the loop that claims only what it can start, launches it and records
  the results (in a recorder thread, or in the turning thread in tests);
- ``claim``: due work found and claimed in single statements returning plain rows;
- ``gate``: what each endpoint may claim now (circuit breaker probes, rate limit);
- ``slots``: each endpoint's window (in flight ≈ rate × latency), what it has in flight and
  what is reserved for the fan-out;
- ``endpoint_cache``: what the engine knows of each endpoint (settings, decrypted secrets);
- ``send``: a claimed delivery signed into a request for ``deliveries.transport``;
- ``record``: attempts and next states written in bulk; ``health``: failing runs, the circuit
  and disabling; ``state``: what a finished try makes of a delivery (shared with the sweeper);
- ``handover``: deliveries this process's fan-out creates already claimed for its engine;
- ``effects``: what a recorded try sets off above the engine (operational webhooks, disabling an
  endpoint, waking workers), supplied by ``deliveries.services.engines``.

It is the only sender and imports no service: every worker process runs one (built with its
effects by ``deliveries.services.engines``), and tests turn one in their own thread with
``engine_new().run_until_idle()``. This module keeps the engine running in this process, so the
fan-out can wake it and hand it deliveries without a broker message.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .handover import Adopted, Handover


class _Wakeable(Protocol):
    running: bool

    def wake(self, endpoint_ids: Iterable[str]) -> None: ...

    def reserve(self, wanted: dict[str, int], *, now: datetime) -> Handover | None: ...

    def adopt(self, adopted: Adopted) -> None: ...


_local: _Wakeable | None = None


def register_local(engine: _Wakeable | None) -> None:
    """The engine now running in this process (the engine registers itself when it starts)."""
    global _local
    _local = engine


def wake_local(endpoint_ids: Iterable[str]) -> bool:
    """Wake this process's engine for ``endpoint_ids``; False if none runs here."""
    engine = _local
    if engine is None or not engine.running:
        return False
    engine.wake(endpoint_ids)
    return True


def reserve_local(wanted: dict[str, int], *, now: datetime) -> Handover | None:
    """Room this process's engine has now for new deliveries of these endpoints (``handover``)."""
    engine = _local
    if engine is None or not engine.running:
        return None
    return engine.reserve(wanted, now=now)


def adopt_local(adopted: Adopted) -> bool:
    """Hand committed deliveries created under a reservation to this process's engine."""
    engine = _local
    if engine is None or not engine.running:
        return False
    engine.adopt(adopted)
    return True


def has_local() -> bool:
    return _local is not None and _local.running
