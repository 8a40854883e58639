"""What recording a try sets off outside the engine's own rows, supplied by the layer above.

The engine writes deliveries, attempts and endpoint health itself. Beyond that, a finished try
can notify the operators (a delivery used up its schedule, a circuit opened or closed), disable
an endpoint (410 Gone, or failing for days: the cascade that cancels its deliveries lives in
``deliveries.services``) and free deliveries another worker may send (a closed circuit's
backlog, an ordered endpoint's next one). The engine calls these through an ``Effects`` it is
given (``deliveries.services.engines`` builds the real one), so it never imports the services
that call it. Each runs inside the recording transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Effects:
    # A delivery was written failed after its last automatic try (delivery id).
    delivery_exhausted: Callable[[int], None]
    # An endpoint's circuit opened or closed (endpoint id, operational event name, reason).
    endpoint_state_changed: Callable[[str, str, str], None]
    # Stop delivering to an endpoint and cancel what waits for it (endpoint id, reason).
    endpoint_disable: Callable[[str, str], None]
    # Deliveries made due now (released or unblocked): wake the workers for them.
    deliveries_dispatch: Callable[[Sequence[int]], None]
