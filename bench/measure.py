"""What every scenario measures with: the events it publishes, the one-at-a-time baseline, and
the wait for its deliveries to succeed (shared by ``bench.run`` and the scenario modules)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench import infra

EVENT_TYPE = "bench.ping"
PAD = "x" * 900  # with the envelope, a body of about 1 KB


def baseline(receiver: infra.Receiver, fixtures: Any, posts: int) -> float:
    """One requests.Session, one POST at a time, same bodies, same receiver, nothing recorded."""
    import requests

    body, headers = fixtures.body_and_headers()
    url = f"{receiver.base}/ok/baseline"
    with requests.Session() as session:
        session.post(url, data=body, headers=headers, timeout=10).raise_for_status()
        t0 = time.perf_counter()
        for _ in range(posts):
            session.post(url, data=body, headers=headers, timeout=10).raise_for_status()
        elapsed = time.perf_counter() - t0
    receiver.reset()
    return posts / elapsed


def succeeded_count(endpoint_ids: list[str]) -> int:
    from deliveries.models import Delivery

    return Delivery.objects.filter(
        endpoint_id__in=endpoint_ids, status=Delivery.Status.SUCCEEDED
    ).count()


class Progress:
    """Polls the database until ``expected`` deliveries to ``endpoint_ids`` have succeeded.

    Counting succeeded rows is itself a query over every delivery of the scenario, and 20 of
    them a second took 10-20 % of a core from the system under test. While the receiver has
    not yet seen ``expected`` requests (a cheap in-memory count), the database is counted once
    a second for the timeline; from then on every 50 ms, to catch the moment the last success
    is recorded.
    """

    SLOW_POLL = 1.0
    FAST_POLL = 0.05

    def __init__(
        self, endpoint_ids: list[str], expected: int, arrived: Callable[[], int] | None = None
    ) -> None:
        self.endpoint_ids = endpoint_ids
        self.expected = expected
        self.arrived = arrived
        self.timeline: list[tuple[float, int]] = []

    def wait(self, t0: float, timeout: float) -> float | None:
        deadline = time.time() + timeout
        counted_at = -1e9
        while time.time() < deadline:
            near = self.arrived is None or self.arrived() >= self.expected
            if near or time.time() - counted_at >= self.SLOW_POLL:
                done = succeeded_count(self.endpoint_ids)
                now = counted_at = time.time()
                self.timeline.append((round(now - t0, 3), done))
                if done >= self.expected:
                    return now
            time.sleep(self.FAST_POLL)
        return None
