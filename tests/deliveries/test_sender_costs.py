"""The sender's per-request work: what depends only on the URL is worked out once, and the
attempt timeout costs one timer for every request in flight, not one each."""

from __future__ import annotations

import asyncio
import ipaddress
import queue
import time

from deliveries import transport


def _options(timeout: float = 5) -> transport.TransportOptions:
    return transport.TransportOptions(
        timeout=timeout, allowed_subnets=(ipaddress.ip_network("127.0.0.0/8"),)
    )


def _request(url: str, key: int) -> transport.OutboundRequest:
    return transport.OutboundRequest(
        key=key, url=url, headers={}, body=b"{}", group="e", tenant="t"
    )


def _timers(sender: transport.Sender) -> int:
    """Timer handles waiting on the sender's event loop, read on that loop."""
    loop = sender._loop
    assert loop is not None

    async def count() -> int:
        return sum(1 for handle in loop._scheduled if not handle.cancelled())  # type: ignore[attr-defined]

    return asyncio.run_coroutine_threadsafe(count(), loop).result(timeout=10)


def test_requests_in_flight_share_one_deadline_timer(receiver):
    # given a sender with 30 requests held by a receiver that answers after 2 s
    sender = transport.Sender()
    out: queue.Queue[transport.AttemptResult] = queue.Queue()
    requests = [_request(receiver.url("/hang/2"), n) for n in range(30)]
    sender.launch(requests, _options(timeout=10), out)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(sender._deadlines) < 30:
        time.sleep(0.02)

    # when they are all in flight
    in_flight = len(sender._deadlines)
    timers = _timers(sender)

    # then the loop holds the sender's one sweep timer, not one per request
    assert in_flight == 30
    assert timers <= 2
    results = [out.get(timeout=30) for _ in requests]
    assert sorted(r.status for r in results) == [200] * 30


def test_a_request_past_its_deadline_is_recorded_as_a_timeout(receiver):
    # given a receiver that answers after 3 s and a 0.5 s attempt timeout
    sender = transport.Sender()
    out: queue.Queue[transport.AttemptResult] = queue.Queue()

    # when the request is sent
    sender.launch([_request(receiver.url("/hang/3"), 1)], _options(timeout=0.5), out)
    result = out.get(timeout=10)

    # then it ends at its deadline, with no response, as a timeout
    assert (result.status, result.error) == (0, "timeout")
    assert 450 <= result.duration_ms < 1500
    assert sender._deadlines == {}
    assert sender._expired == set()


def test_the_url_and_its_literal_address_are_parsed_once_per_url(receiver):
    # given a URL whose host is an IP literal, never sent before
    url = receiver.url("/ok?once=1")
    transport._target.cache_clear()
    sender = transport.Sender()
    out: queue.Queue[transport.AttemptResult] = queue.Queue()

    # when three requests go to it
    sender.launch([_request(url, n) for n in range(3)], _options(), out)
    results = [out.get(timeout=30) for _ in range(3)]

    # then they all arrive, and the URL was worked out once
    assert [r.status for r in results] == [200] * 3
    info = transport._target.cache_info()
    assert (info.misses, info.hits) == (1, 2)
