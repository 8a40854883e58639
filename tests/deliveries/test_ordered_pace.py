"""Ordered endpoints at the receiver's pace: when the head succeeds, the statement that records
it releases the next delivery already claimed for the same engine, which sends it without a
wake-up or a claim. Every ordering guarantee holds on that path: one in flight, never past an
earlier event still to be fanned out, retries only of the head, a crash or a stop never
reorders first deliveries."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from deliveries import publish_event
from deliveries.engine.loop import Engine
from deliveries.models import Attempt, Delivery
from deliveries.services.engines import engine_new
from deliveries.services.fanout import event_fan_out, events_fan_out_pending
from deliveries.services.sweep import sweep
from endpoints.services import endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_retries(settings):  # type: ignore[no-untyped-def]
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.05] * 10
    settings.WEBHOOKS_RETRY_JITTER = 0
    settings.WEBHOOKS_CIRCUIT_FAILURE_THRESHOLD = 1000


def _statuses(endpoint) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(Delivery.objects.filter(endpoint=endpoint).values_list("event_id", "status"))


def _turn_until(engine: Engine, done, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    """Turn the engine in this thread (recording inline) until ``done()``."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "condition not reached in time"
        engine.turn(wait=0.05)


def _ids(receiver, path: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.headers["webhook-id"] for r in receiver.received(path)]


@pytest.fixture
def three(tenant, invoice_paid, receiver):  # type: ignore[no-untyped-def]
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok/ordered"), ordered=True)
    events = [publish_event(tenant, "invoice.paid", {"n": n}) for n in range(3)]
    events_fan_out_pending(tenant_id=tenant.pk)
    return endpoint, events


def test_the_head_s_success_releases_the_next_already_claimed_and_nothing_else(three, receiver):
    endpoint, events = three
    engine = engine_new()

    _turn_until(engine, lambda: _statuses(endpoint)[events[0].pk] == "succeeded")

    # Written by the statement that recorded the head: claimed, not left pending for a claim.
    second = Delivery.objects.get(endpoint=endpoint, event=events[1])
    assert second.status == "sending"
    assert second.claim_token is not None
    assert second.lease_expires_at is not None
    assert _statuses(endpoint)[events[2].pk] == "held"
    assert _ids(receiver, "/ok/ordered") == [events[0].pk]  # one in flight at a time

    _turn_until(engine, lambda: _statuses(endpoint)[events[2].pk] == "succeeded")
    assert _ids(receiver, "/ok/ordered") == [e.pk for e in events]
    assert engine._slots.reservations.total == 0  # every reservation was used or given back


def test_a_head_that_will_be_retried_releases_nothing(tenant, invoice_paid, receiver):
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/flaky/50/o"), ordered=True)
    events = [publish_event(tenant, "invoice.paid", {"n": n}) for n in range(6)]
    events_fan_out_pending(tenant_id=tenant.pk)
    engine = engine_new()

    _turn_until(
        engine, lambda: Delivery.objects.filter(endpoint=endpoint, status="succeeded").count() == 6
    )

    got = _ids(receiver, "/flaky/50/o")
    assert len(got) > 6  # some were retried
    collapsed = [pk for i, pk in enumerate(got) if i == 0 or got[i - 1] != pk]
    assert collapsed == [e.pk for e in events]  # only heads were retried, in order
    assert Attempt.objects.filter(endpoint=endpoint).count() == len(got)
    assert engine._slots.reservations.total == 0


def test_never_past_an_earlier_event_still_to_be_fanned_out(tenant, invoice_paid, receiver):
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok/late"), ordered=True)
    first, late, third = (publish_event(tenant, "invoice.paid", {"n": n}) for n in range(3))
    event_fan_out(event_id=first.pk)
    event_fan_out(event_id=third.pk)
    engine = engine_new()

    _turn_until(engine, lambda: _statuses(endpoint)[first.pk] == "succeeded")

    # The head succeeded, but an earlier event than the next held one is not fanned out yet.
    assert _statuses(endpoint)[third.pk] == "held"
    assert engine._slots.reservations.total == 0  # the reserved room went back
    event_fan_out(event_id=late.pk)
    _turn_until(engine, lambda: set(_statuses(endpoint).values()) == {"succeeded"})
    assert _ids(receiver, "/ok/late") == [first.pk, late.pk, third.pk]


def test_a_crash_after_the_next_was_claimed_never_reorders(three, receiver, settings):
    endpoint, events = three
    crashed = engine_new()
    _turn_until(crashed, lambda: _statuses(endpoint)[events[0].pk] == "succeeded")
    assert _statuses(endpoint)[events[1].pk] == "sending"
    # The worker dies before sending it: its lease runs out and the sweeper takes it back.
    Delivery.objects.filter(endpoint=endpoint, event=events[1]).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    sweep()

    assert _statuses(endpoint) == {
        events[0].pk: "succeeded",
        events[1].pk: "pending",  # taken back, due again; still the head
        events[2].pk: "held",
    }
    _turn_until(engine_new(), lambda: set(_statuses(endpoint).values()) == {"succeeded"})
    assert _ids(receiver, "/ok/ordered") == [e.pk for e in events]


def test_a_stopping_engine_hands_the_claimed_next_one_back_untried(three, receiver):
    endpoint, events = three
    engine = engine_new()
    _turn_until(engine, lambda: _statuses(endpoint)[events[0].pk] == "succeeded")
    assert _statuses(endpoint)[events[1].pk] == "sending"

    assert engine.stop(timeout=5)

    second = Delivery.objects.get(endpoint=endpoint, event=events[1])
    assert (second.status, second.attempt_count, second.claim_token) == ("pending", 0, None)
    assert _statuses(endpoint)[events[2].pk] == "held"
    assert _ids(receiver, "/ok/ordered") == [events[0].pk]
