"""A claimed delivery on its way, and what recording a bulk of finished ones reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .claim import Claimed
from .handover import Adopted, Handover


@dataclass(slots=True)
class Flight:
    """One claimed delivery on its way: what was sent, and what recording needs besides."""

    claimed: Claimed
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    had_failures: bool = False
    endpoint_schedule: tuple[float, ...] | None = None  # the endpoint's own retry schedule
    ordered: bool = False  # its endpoint sends one at a time: a finish releases the next
    probe_at: datetime | None = None  # the open circuit's probe, taken then (gate.probe_take)
    # Room the engine reserved for its ordered endpoint's next delivery: recording this try
    # releases that one already claimed under it, to be sent at once (``ordered_release``).
    handover: Handover | None = None
    method: str = "POST"
    transformation_version: int | None = None  # the version that shaped the request
    # Its transformation cancelled it (the reason): nothing was sent, the delivery ends
    # cancelled; neither a success nor a failure of the endpoint.
    cancelled: str = ""


@dataclass
class RecordReport:
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    health_changed: set[str] = field(default_factory=set)  # endpoints whose health was written
    recovered: set[str] = field(default_factory=set)  # succeeded after failures or a circuit
    # Ordered endpoints' next deliveries, released already claimed: for the engine to send.
    adopted: list[Adopted] = field(default_factory=list)
