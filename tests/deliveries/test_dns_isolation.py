"""Names that resolve slowly hold only their own lookups, never other tenants' deliveries; names
that fail are remembered for a while; dual-stack names and localhost still resolve."""

from __future__ import annotations

import asyncio
import ipaddress
import queue
import time

import pytest

from deliveries import publish_event, transport
from deliveries.models import Attempt, Delivery
from deliveries.services.fanout import event_fan_out
from endpoints import url_safety
from endpoints.services import endpoint_create
from tests.engine import deliver_due

pytestmark = pytest.mark.django_db

SLOW_ENDPOINTS = 40  # more than the 32 threads the lookups once shared
SLOW_SECONDS = 6  # longer than an attempt's timeout in tests (2 s)


class CountingDNS:
    """Both resolver seams answer from the test table; once ``slow`` is set, names under
    ``slow-`` answer only after ``slow_seconds``. ``started`` counts the lookups of each name."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started: dict[str, int] = {}
        self.slow = False
        self.slow_seconds: float = SLOW_SECONDS
        self._table_resolve = url_safety.resolve
        monkeypatch.setattr(url_safety, "resolve", self.resolve)
        monkeypatch.setattr(url_safety, "resolve_async", self.resolve_async)

    def _delay(self, host: str) -> float:
        self.started[host] = self.started.get(host, 0) + 1
        return self.slow_seconds if self.slow and host.startswith("slow-") else 0

    def resolve(self, host: str, port: int) -> list[url_safety.IPAddress]:
        time.sleep(self._delay(host))
        return self._table_resolve(host, port)

    async def resolve_async(self, host: str, port: int) -> list[url_safety.IPAddress]:
        await asyncio.sleep(self._delay(host))
        return self._table_resolve(host, port)


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch, dns: dict[str, list[str]]) -> CountingDNS:
    return CountingDNS(monkeypatch)


def _publish(tenant, times: int = 1) -> list[str]:
    ids = []
    for _ in range(times):
        event = publish_event(tenant, "invoice.paid", {})
        event_fan_out(event_id=event.pk)
        ids.append(event.pk)
    return ids


def test_one_tenants_slow_names_do_not_starve_another_tenants_deliveries(
    receiver, tenant, other_tenant, invoice_paid, dns, lookups
):
    # given one tenant with 40 endpoints on names that answer only after the attempt's timeout,
    # and another tenant's endpoint on a name that answers at once
    port = receiver.server.server_port
    for i in range(SLOW_ENDPOINTS):
        dns[f"slow-{i}.test"] = ["127.0.0.1"]
        endpoint_create(tenant=tenant, url=f"http://slow-{i}.test:{port}/ok")
    dns["fast.test"] = ["127.0.0.1"]
    healthy, _ = endpoint_create(tenant=other_tenant, url=f"http://fast.test:{port}/ok")
    _publish(tenant)
    _publish(other_tenant, times=5)
    lookups.slow = True  # from here on: saving the endpoints above was not slow

    # when the engine sends everything due
    deliver_due()

    # then the other tenant's five deliveries succeeded, while the slow names timed out
    theirs = Attempt.objects.filter(delivery__endpoint=healthy)
    assert sorted((a.response_status, a.error) for a in theirs) == [(200, "")] * 5
    assert Delivery.objects.filter(endpoint=healthy, status=Delivery.Status.SUCCEEDED).count() == 5
    slow = Attempt.objects.filter(delivery__endpoint__tenant=tenant)
    assert [(a.response_status, a.error) for a in slow] == [(0, "timeout: dns lookup")] * 40


def test_a_name_that_does_not_resolve_is_looked_up_once_within_the_window(
    tenant, invoice_paid, lookups
):
    # given an endpoint on a name the resolver does not know
    endpoint, _ = endpoint_create(tenant=tenant, url="http://gone.test/hooks")

    # when three events are delivered one after the other
    for _ in range(3):
        _publish(tenant)
        deliver_due()

    # then all three tries failed as DNS failures, and only the first asked the resolver
    attempts = Attempt.objects.filter(delivery__endpoint=endpoint)
    assert [a.error for a in attempts] == ["dns error: host not found"] * 3
    assert lookups.started["gone.test"] == 2  # saving the endpoint, then the first try


def test_a_name_that_timed_out_fails_at_once_within_the_window(tenant, invoice_paid, lookups):
    # given an endpoint on a name whose lookup outlives the attempt's timeout
    endpoint, _ = endpoint_create(tenant=tenant, url="http://slow-1.test/hooks")
    lookups.slow = True
    lookups.slow_seconds = 2.5  # past the attempt's 2 s

    # when two events are delivered one after the other, the first try's lookup over by the
    # second (so the second could not simply share it)
    _publish(tenant)
    deliver_due()
    time.sleep(1)
    _publish(tenant)
    deliver_due()

    # then both tries are DNS timeouts, and the second did not start a lookup of its own
    attempts = Attempt.objects.filter(delivery__endpoint=endpoint)
    assert [a.error for a in attempts] == ["timeout: dns lookup"] * 2
    assert lookups.started["slow-1.test"] == 2  # saving the endpoint, then the first try


def test_with_no_window_every_attempt_looks_the_name_up(tenant, invoice_paid, lookups, settings):
    settings.WEBHOOKS_DNS_FAILURE_TTL = 0
    endpoint, _ = endpoint_create(tenant=tenant, url="http://gone.test/hooks")

    for _ in range(3):
        _publish(tenant)
        deliver_due()

    assert lookups.started["gone.test"] == 4  # saving the endpoint, then each try


def test_a_failed_name_is_looked_up_again_after_the_window(
    receiver, tenant, invoice_paid, lookups, dns, settings
):
    # given a name that failed to resolve, remembered for half a second
    settings.WEBHOOKS_DNS_FAILURE_TTL = 0.5
    port = receiver.server.server_port
    endpoint, _ = endpoint_create(tenant=tenant, url=f"http://later.test:{port}/ok")
    _publish(tenant)
    deliver_due()

    # when it resolves after the window has passed
    dns["later.test"] = ["127.0.0.1"]
    time.sleep(0.6)
    _publish(tenant)
    deliver_due()

    # then the next delivery looks it up and goes through
    attempts = Attempt.objects.filter(delivery__endpoint=endpoint)
    assert sorted((a.response_status, a.error) for a in attempts) == [
        (0, "dns error: host not found"),
        (200, ""),
    ]


def test_a_name_answering_ipv4_and_ipv6_is_checked_and_delivered(
    receiver, tenant, invoice_paid, dns, settings
):
    # given a name with an AAAA (loopback ::1, where nothing listens) and an A record
    settings.WEBHOOKS_ALLOWED_SUBNETS = ["127.0.0.0/8", "::1/128"]
    dns["dual.test"] = ["::1", "127.0.0.1"]
    port = receiver.server.server_port
    endpoint, _ = endpoint_create(tenant=tenant, url=f"http://dual.test:{port}/ok")
    _publish(tenant)

    deliver_due()

    (attempt,) = Attempt.objects.filter(delivery__endpoint=endpoint)
    assert (attempt.response_status, attempt.error) == (200, "")


def test_a_name_whose_ipv6_answer_is_private_is_blocked(tenant, invoice_paid, dns):
    # given a name that, after the endpoint was saved, answers an AAAA record inside
    dns["dual.test"] = ["127.0.0.1"]
    endpoint, _ = endpoint_create(tenant=tenant, url="http://dual.test/ok")
    dns["dual.test"] = ["127.0.0.1", "fd00::1"]
    _publish(tenant)

    deliver_due()

    (attempt,) = Attempt.objects.filter(delivery__endpoint=endpoint)
    assert attempt.error == "blocked: dual.test resolves to a private address (fd00::1)"


def _send_all(requests, options):
    """Launch ``requests`` as the engine does and collect one result for each."""
    out: queue.Queue[transport.AttemptResult] = queue.Queue()
    transport.sender().launch(requests, options, out)
    return {result.key: result for result in (out.get(timeout=60) for _ in requests)}


def test_concurrent_lookups_are_bounded_per_tenant_and_per_endpoint(receiver, monkeypatch):
    # given a resolver that records how many lookups of each tenant are in flight at once
    in_flight: dict[str, int] = {}
    most: dict[str, int] = {}

    async def counting_resolve_async(host: str, port: int) -> list[url_safety.IPAddress]:
        owner = host.split("-", 1)[0]
        in_flight[owner] = in_flight.get(owner, 0) + 1
        most[owner] = max(most.get(owner, 0), in_flight[owner])
        try:
            if "slow" in host:
                await asyncio.sleep(SLOW_SECONDS)
            return [ipaddress.ip_address("127.0.0.1")]
        finally:
            in_flight[owner] -= 1

    monkeypatch.setattr(url_safety, "resolve_async", counting_resolve_async)
    port = receiver.server.server_port
    options = transport.TransportOptions(
        timeout=1.5, allowed_subnets=(ipaddress.ip_network("127.0.0.0/8"),)
    )

    def request(key: str, host: str, *, group: str, tenant: str) -> transport.OutboundRequest:
        url = f"http://{host}:{port}/ok"
        return transport.OutboundRequest(key, url, {}, b"{}", group=group, tenant=tenant)

    # when one tenant's 40 endpoints, and one endpoint of another tenant's whose URL moved
    # across 10 names, all resolve slowly, while a third tenant's endpoint resolves at once
    many = [request(f"a{i}", f"a-slow{i}.test", group=f"a{i}", tenant="a") for i in range(40)]
    moved = [request(f"b{i}", f"b-slow{i}.test", group="b", tenant="b") for i in range(10)]
    healthy = request("c", "c-fast.test", group="c", tenant="c")
    outcomes = _send_all([*many, *moved, healthy], options)

    # then no tenant had more lookups in flight than its bound, nor an endpoint than its own,
    # and the third tenant's request went through
    assert most["a"] == transport._PinnedResolver.PER_TENANT
    assert most["b"] == transport._PinnedResolver.PER_ENDPOINT
    assert (outcomes["c"].status, outcomes["c"].error) == (200, "")
    assert {outcomes[r.key].error for r in [*many, *moved]} == {"timeout: dns lookup"}


def test_localhost_resolves_through_c_ares_to_both_loopbacks(tmp_path):
    # c-ares answers localhost itself; the resolver configuration names only loopback, so even
    # a miss could not reach a DNS server.
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("nameserver 127.0.0.1\n")
    resolver = url_safety.AsyncResolver(resolvconf_path=str(resolv_conf))

    addresses = asyncio.run(resolver.lookup("localhost", 80))

    assert ipaddress.ip_address("127.0.0.1") in addresses
    assert all(a.is_loopback for a in addresses)


def test_a_localhost_endpoint_is_delivered_through_c_ares(
    receiver, tenant, invoice_paid, settings, monkeypatch, tmp_path
):
    # given the real resolvers (c-ares answering localhost itself, its DNS server configured on
    # loopback so that even a miss stays on this machine) and loopback allowed in both families
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("nameserver 127.0.0.1\n")
    monkeypatch.setattr(url_safety, "resolve", url_safety._system_resolve)
    monkeypatch.setattr(url_safety, "resolve_async", url_safety._system_resolve_async)
    monkeypatch.setattr(
        url_safety, "_async_resolver", url_safety.AsyncResolver(resolvconf_path=str(resolv_conf))
    )
    settings.WEBHOOKS_ALLOWED_SUBNETS = ["127.0.0.0/8", "::1/128"]
    port = receiver.server.server_port
    endpoint, _ = endpoint_create(tenant=tenant, url=f"http://localhost:{port}/ok")
    _publish(tenant)

    # when it is delivered
    deliver_due()

    # then it went through
    (attempt,) = Attempt.objects.filter(delivery__endpoint=endpoint)
    assert (attempt.response_status, attempt.error) == (200, "")
