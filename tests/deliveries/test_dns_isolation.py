"""Names that resolve slowly hold only their own lookups, never other endpoints' (transport)."""

from __future__ import annotations

import ipaddress
import queue
import time

import pytest

from deliveries import transport
from endpoints import url_safety

SLOW_HOSTS = 24  # more than the event loop's default executor has threads on most machines


def _send_all(requests, options):
    """Launch ``requests`` as the engine does and collect one result for each."""
    out: queue.Queue[transport.AttemptResult] = queue.Queue()
    transport.sender().launch(requests, options, out)
    return {result.key: result for result in (out.get(timeout=60) for _ in requests)}


@pytest.fixture
def slow_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(host: str, port: int) -> list[url_safety.IPAddress]:
        if host.startswith("slow-"):
            time.sleep(3)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(url_safety, "resolve", resolve)


def test_slow_names_do_not_starve_a_healthy_endpoint_and_time_out_as_timeouts(receiver, slow_dns):
    port = receiver.url("/").split(":")[2].split("/")[0]
    options = transport.TransportOptions(
        timeout=1.5, allowed_subnets=(ipaddress.ip_network("127.0.0.0/8"),)
    )
    slow = [
        transport.OutboundRequest(
            key=f"slow-{i}-{n}",
            url=f"http://slow-{i}.test:{port}/ok",
            headers={},
            body=b"{}",
            group=f"slow-{i}",
        )
        for i in range(SLOW_HOSTS)
        for n in range(2)
    ]
    healthy = transport.OutboundRequest(
        key="healthy", url=f"http://fast.test:{port}/ok", headers={}, body=b"{}", group="fast"
    )

    outcomes = _send_all([*slow, healthy], options)

    assert outcomes["healthy"].status == 200, outcomes["healthy"].error
    assert {outcomes[r.key].error for r in slow} == {"timeout: dns lookup"}
