"""The circuit breaker's probe schedule, driven through the engine against a real receiver:
only failed probes move the next probe along the schedule, never the other failures that
arrive while the circuit is open (requests in flight when it opened, from any worker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deliveries import publish_event
from deliveries.models import Delivery
from deliveries.services.engines import engine_new
from deliveries.services.fanout import event_fan_out
from endpoints.models import Endpoint
from endpoints.services import endpoint_create

pytestmark = pytest.mark.django_db

SCHEDULE = [60, 600, 3600]


@pytest.fixture(autouse=True)
def _circuit_settings(settings):
    settings.WEBHOOKS_ENGINE = "engine"
    settings.WEBHOOKS_RETRY_SCHEDULE = SCHEDULE
    settings.WEBHOOKS_RETRY_JITTER = 0
    settings.WEBHOOKS_CIRCUIT_FAILURE_THRESHOLD = 3
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 5


def _publish(tenant, count):
    for i in range(count):
        event_fan_out(event_id=publish_event(tenant, "invoice.paid", {"n": i}).pk)


@pytest.fixture
def opened(tenant, invoice_paid, receiver):
    """An endpoint whose circuit a burst opened: two workers each had five requests in flight
    when the receiver went down; the first's failures opened it, the second's came after."""
    receiver.outage.set()
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/outage"))
    _publish(tenant, 10)
    first, second = engine_new(), engine_new()
    first.turn(wait=0)
    second.turn(wait=0)
    assert Delivery.objects.filter(status=Delivery.Status.SENDING).count() == 10

    first.run_until_idle()
    endpoint.refresh_from_db()
    assert endpoint.circuit_state == "open"
    second.run_until_idle()
    endpoint.refresh_from_db()
    return endpoint


def _probe(endpoint, tenant, engine=None):
    """The next probe comes due, with a new delivery waiting for it; an engine sends it (a
    fresh one by default: one that saw the circuit open holds it until the probe's time, and
    the test moves that time). Returns the times before and after."""
    engine = engine or engine_new()
    _publish(tenant, 1)
    Endpoint.objects.filter(pk=endpoint.pk).update(
        circuit_next_probe_at=timezone.now() - timedelta(seconds=1)
    )
    before = timezone.now()
    engine.run_until_idle()
    after = timezone.now()
    endpoint.refresh_from_db()
    return before, after


def test_failures_in_flight_when_the_circuit_opened_leave_the_first_probe_at_the_first_step(
    opened, receiver
):
    # given a circuit opened by a burst, then the other worker's in-flight failures recorded
    endpoint = opened

    # then all ten failed, and the first probe is still the schedule's first step after opening
    assert len(receiver.received()) == 10
    assert endpoint.consecutive_failures == 10
    assert endpoint.circuit_failed_probes == 0
    assert endpoint.circuit_probe_at is None
    assert endpoint.circuit_next_probe_at - endpoint.circuit_opened_at == timedelta(seconds=60)


def test_each_failed_probe_moves_the_next_one_a_step_along_the_schedule(opened, tenant, receiver):
    endpoint = opened

    # when the first probe fails
    before, after = _probe(endpoint, tenant)

    # then one request went, and the next probe waits the second step
    assert len(receiver.received()) == 11
    assert endpoint.circuit_state == "open"
    assert endpoint.circuit_failed_probes == 1
    assert endpoint.circuit_probe_at is None
    next_probe = endpoint.circuit_next_probe_at
    assert before + timedelta(seconds=600) <= next_probe <= after + timedelta(seconds=600)

    # when the second probe fails, the next waits the third step
    before, after = _probe(endpoint, tenant)
    assert len(receiver.received()) == 12
    assert endpoint.circuit_failed_probes == 2
    next_probe = endpoint.circuit_next_probe_at
    assert before + timedelta(seconds=3600) <= next_probe <= after + timedelta(seconds=3600)


def test_a_successful_probe_closes_the_circuit_resets_the_count_and_releases_the_backlog(
    opened, tenant, receiver
):
    endpoint = opened
    _probe(endpoint, tenant)
    assert endpoint.circuit_failed_probes == 1

    # when the receiver recovers and the next probe goes
    receiver.outage.clear()
    engine = engine_new()
    _probe(endpoint, tenant, engine)
    engine.run_until_idle()

    # then the circuit is closed with its count reset, and everything that waited went out
    endpoint.refresh_from_db()
    assert endpoint.circuit_state == "closed"
    assert endpoint.circuit_failed_probes == 0
    assert endpoint.circuit_probe_at is None
    assert endpoint.circuit_next_probe_at is None
    assert endpoint.consecutive_failures == 0
    assert Delivery.objects.filter(endpoint=endpoint).count() == 12
    assert Delivery.objects.filter(endpoint=endpoint, status="succeeded").count() == 12


def test_a_manual_try_that_fails_through_an_open_circuit_does_not_move_the_probe(opened, receiver):
    from deliveries.services.lifecycle import delivery_replay

    endpoint = opened
    scheduled = endpoint.circuit_next_probe_at
    delivery = Delivery.objects.filter(endpoint=endpoint).first()

    # when a person replays a delivery while the receiver is still down
    delivery_replay(delivery=delivery)
    engine = engine_new()
    engine.wake([endpoint.pk])
    engine.run_until_idle()

    # then it went out at once and failed, and the probe is where it was
    endpoint.refresh_from_db()
    assert len(receiver.received()) == 11
    assert endpoint.circuit_failed_probes == 0
    assert endpoint.circuit_next_probe_at == scheduled


def test_a_stale_probe_result_counts_for_nothing(opened, tenant, receiver):
    """A probe whose lease ran out and was followed by another: its late failure is not the
    current probe's, so it does not move the schedule (the row says which probe is out)."""
    from deliveries.engine.health import EndpointTally, endpoint_health
    from deliveries.services.engines import ENGINE_EFFECTS
    from platform_core.conf import webhooks_settings

    endpoint = opened
    stale = timezone.now() - timedelta(minutes=5)
    current = timezone.now()
    Endpoint.objects.filter(pk=endpoint.pk).update(
        circuit_probe_at=current, circuit_next_probe_at=current + timedelta(seconds=60)
    )
    tally = EndpointTally()
    tally.failures[endpoint.pk] = 1
    tally.probes_failed[endpoint.pk] = stale

    endpoint_health(tally, now=timezone.now(), ws=webhooks_settings(), effects=ENGINE_EFFECTS)

    endpoint.refresh_from_db()
    assert endpoint.circuit_failed_probes == 0
    assert endpoint.circuit_probe_at == current
    assert endpoint.circuit_next_probe_at == current + timedelta(seconds=60)
