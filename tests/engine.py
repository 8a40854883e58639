"""Turn a delivery engine in the test's own thread, as a worker's would, until it is idle."""

from __future__ import annotations

from deliveries.engine.record import RecordReport
from deliveries.services.engines import engine_new


def deliver_due(*, timeout: float = 30) -> RecordReport:
    """Send everything due now through a fresh engine and record it; returns what it recorded."""
    return engine_new().run_until_idle(timeout=timeout)
