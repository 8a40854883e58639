"""Starting claimed deliveries: each becomes a flight in the engine's window, signed (or shaped
by its transformation on a transformation thread) and launched on the process's sender; each
result comes back on the engine's inbox."""

from __future__ import annotations

import functools
import queue
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from deliveries import transport
from deliveries.destinations import sender as destination_sender
from platform_core.conf import WebhooksSettings

from .claim import Claimed
from .endpoint_cache import EndpointView
from .flight import Flight
from .handover import deliveries_hand_back
from .send import flight_new, signed_request, transport_options
from .slots import Slots
from .transform import needs_transform, shape_and_send, transform_runner

PREPARE_RETRY_SECONDS = 30


def flights_launch(
    claimed: list[Claimed],
    views: dict[str, EndpointView],
    token: uuid.UUID,
    ws: WebhooksSettings,
    *,
    flying: dict[int, Flight],
    slots: Slots,
    inbox: queue.Queue[Any],
    probes: dict[str, datetime] | None = None,
) -> None:
    """Sign and send ``claimed``; ``probes``: endpoint -> its circuit's probe, taken then
    (one delivery each), whose result moves the probe schedule."""
    try:
        requests = _requests(claimed, views, probes or {}, ws, flying, slots, inbox)
    except Exception:
        # Nothing was sent: hand the batch back without using a try, due a little later so
        # a fault that outlives this turn (a lost encryption key) is not met in a tight loop.
        deliveries_hand_back(
            token, due_at=timezone.now() + timedelta(seconds=PREPARE_RETRY_SECONDS)
        )
        raise
    http = [r for r in requests if isinstance(r, transport.OutboundRequest)]
    other = [r for r in requests if not isinstance(r, transport.OutboundRequest)]
    if http:
        transport.sender().launch(http, transport_options(ws), inbox)
    if other:
        destination_sender.sender().launch(other, transport_options(ws), inbox)


def _requests(
    claimed: list[Claimed],
    views: dict[str, EndpointView],
    probes: dict[str, datetime],
    ws: WebhooksSettings,
    flying: dict[int, Flight],
    slots: Slots,
    inbox: queue.Queue[Any],
) -> list[transport.OutboundRequest | destination_sender.DestinationRequest]:
    timestamp = int(time.time())
    requests: list[transport.OutboundRequest | destination_sender.DestinationRequest] = []
    for item in claimed:
        view = views[item.endpoint_id]
        if needs_transform(item, view):
            # Its script runs on a transformation thread, which sends or reports it.
            flight = flight_new(item, view)
            flight.probe_at = probes.get(item.endpoint_id)
            flying[item.id] = flight
            slots.started(item.endpoint_id)
            transform_runner(ws.transform_processes).submit(
                item.endpoint_id,
                functools.partial(
                    shape_and_send,
                    item,
                    view,
                    flight,
                    ws=ws,
                    timestamp=timestamp,
                    inbox=inbox,
                ),
            )
            continue
        flight, request = signed_request(item, view, timestamp=timestamp)
        flight.probe_at = probes.get(item.endpoint_id)
        flying[item.id] = flight
        slots.started(item.endpoint_id)
        if isinstance(request, transport.AttemptResult):
            inbox.put(request)  # not sendable: recorded as a failed try, never sent
        else:
            requests.append(request)
    return requests
