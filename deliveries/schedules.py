"""Which retry schedule a delivery follows: its endpoint's, else its event type's, else the
platform's (``WEBHOOKS_RETRY_SCHEDULE``)."""

from __future__ import annotations

from collections.abc import Sequence

from endpoints.selectors import event_type_retry_schedules
from platform_core.conf import WebhooksSettings


def retry_schedule(
    endpoint_schedule: Sequence[float] | None, event_type_id: int | None, ws: WebhooksSettings
) -> tuple[float, ...]:
    """The delays between tries for a delivery of ``event_type_id`` to an endpoint whose own
    schedule is ``endpoint_schedule`` (None: it has none). The endpoint's comes with the row
    the sender reads anyway; event types' are cached per process for a few seconds."""
    if endpoint_schedule is not None:
        if isinstance(endpoint_schedule, tuple):  # the engine's endpoint view: floats already
            return endpoint_schedule
        return tuple(float(d) for d in endpoint_schedule)
    if event_type_id is not None:
        schedule = event_type_retry_schedules().get(event_type_id)
        if schedule is not None:
            return schedule
    return ws.retry_schedule
