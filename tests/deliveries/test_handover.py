"""A fan-out in a worker whose engine has room creates deliveries already claimed for it.

PostgreSQL only: the engine's fan-out there is one ``INSERT … SELECT FROM unnest``; elsewhere
deliveries are created pending and claimed as before. The engine runs in its own thread on its
own connection, as in a worker, so these tests commit.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from deliveries import publish_event
from deliveries.engine import handover
from deliveries.engine.loop import Engine
from deliveries.models import Attempt, Delivery
from deliveries.services.engines import engine_new
from deliveries.services.fanout import events_fan_out_pending
from endpoints.models import Endpoint
from endpoints.services import endpoint_create

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the engine's bulk fan-out"),
]


@pytest.fixture
def engine(monkeypatch):
    """A started engine, registered as this process's own; records what it was handed."""
    started = engine_new()
    started.handed: list[handover.Adopted] = []
    adopt = started.adopt

    def spy(adopted: handover.Adopted) -> None:
        started.handed.append(adopted)
        adopt(adopted)

    monkeypatch.setattr(started, "adopt", spy)
    started.start()
    yield started
    started.stop(timeout=10)
    from deliveries.engine import register_local

    register_local(None)


def _wait(predicate, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _warm(tenant, engine, receiver_count) -> None:
    """One delivery the usual way, so the engine knows the endpoint (its window and settings)."""
    publish_event(tenant, "invoice.paid", {"warm": True})
    events_fan_out_pending(tenant_id=tenant.pk)
    assert _wait(lambda: receiver_count() >= 1)
    assert _wait(lambda: not engine._flying)
    assert engine.handed == []  # the engine had not seen the endpoint: nothing reserved


def test_a_streams_deliveries_are_created_claimed_and_sent_without_a_claim(
    tenant, invoice_paid, receiver, engine
):
    endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    _warm(tenant, engine, lambda: len(receiver.received()))
    events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(5)]

    assert events_fan_out_pending(tenant_id=tenant.pk) == 5

    assert _wait(lambda: Delivery.objects.filter(status="succeeded").count() == 6)
    (handed,) = engine.handed
    ids = set(Delivery.objects.filter(event__in=events).values_list("id", flat=True))
    assert {c.id for c in handed.claimed} == ids
    assert {c.claim_token for c in handed.claimed} == {handed.handover.token}
    assert Attempt.objects.filter(delivery_id__in=ids).count() == 5
    got = [r.headers["webhook-id"] for r in receiver.received()]
    assert sorted(got[1:]) == sorted(e.pk for e in events)  # each once
    assert _wait(lambda: engine._slots.reservations.total == 0)


@pytest.fixture
def window_of_3(settings):
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 3


def test_only_the_free_window_is_created_claimed_and_the_rest_waits_untried(
    tenant, invoice_paid, receiver, window_of_3, engine
):
    """A receiver that hangs: one request holds a slot of a window of 3, so a fan-out of 10
    creates 2 claimed and 8 pending, and nothing more is sent until the window frees."""
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/hold"))
    try:
        publish_event(tenant, "invoice.paid", {"first": True})
        events_fan_out_pending(tenant_id=tenant.pk)
        receiver.wait_for(1, timeout=10)
        [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(10)]

        events_fan_out_pending(tenant_id=tenant.pk)

        (handed,) = engine.handed
        assert handed.handover.counts == {endpoint.pk: 2}
        receiver.wait_for(3, timeout=10)
        time.sleep(0.3)
        assert Delivery.objects.filter(status="sending").count() == 3
        assert Delivery.objects.filter(status="pending").count() == 8
        assert len(receiver.received()) == 3
        assert not Attempt.objects.exists()
    finally:
        receiver.release.set()
    assert _wait(lambda: Delivery.objects.filter(status="succeeded").count() == 11, timeout=30)
    assert Attempt.objects.count() == 11


def test_deliveries_the_engine_cannot_take_after_all_go_back_to_pending_untried(
    tenant, invoice_paid, receiver, engine
):
    """The endpoint is disabled between the reservation and the commit: the handed deliveries
    go back to pending without a try (the sweeper cancels a disabled endpoint's work)."""
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    _warm(tenant, engine, lambda: len(receiver.received()))
    publish_event(tenant, "invoice.paid", {"n": 1})

    with transaction.atomic():
        events_fan_out_pending(tenant_id=tenant.pk)
        Endpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
        engine._cache.forget_views([endpoint.pk])

    assert _wait(lambda: len(engine.handed) == 1)
    assert _wait(lambda: Delivery.objects.filter(status="pending").count() == 1)
    delivery = Delivery.objects.get(status="pending")
    assert (delivery.attempt_count, delivery.claim_token, delivery.lease_expires_at) == (
        0,
        None,
        None,
    )
    assert len(receiver.received()) == 1  # the warm-up only


def test_a_rolled_back_fan_out_gives_its_reservation_back(
    tenant, invoice_paid, receiver, engine, monkeypatch
):
    monkeypatch.setattr(handover.Reservations, "SECONDS", 0.2)
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    _warm(tenant, engine, lambda: len(receiver.received()))
    publish_event(tenant, "invoice.paid", {"n": 1})

    reserved: list[int] = []

    def fan_out_then_fail() -> None:
        with transaction.atomic():
            events_fan_out_pending(tenant_id=tenant.pk)
            reserved.append(engine._slots.reservations.of(endpoint.pk))
            raise RuntimeError("the fan-out's transaction fails")

    with pytest.raises(RuntimeError):
        fan_out_then_fail()

    assert reserved == [1]
    assert engine.handed == []
    assert not Delivery.objects.exclude(status="succeeded").exists()
    engine.wake([endpoint.pk])
    assert _wait(lambda: engine._slots.reservations.total == 0)
    # The event is still waiting: the next drain fans it out and it goes.
    assert events_fan_out_pending(tenant_id=tenant.pk) == 1
    assert _wait(lambda: Delivery.objects.filter(status="succeeded").count() == 2)


def test_nothing_is_reserved_while_older_deliveries_of_the_endpoint_are_due(
    tenant, invoice_paid, monkeypatch
):
    """New deliveries never overtake older ones waiting for the same endpoint: while the engine
    knows of due work there, the fan-out creates pending rows, claimed after the older ones. A
    retry due later does not hold new work back."""
    from datetime import timedelta

    from django.utils import timezone

    from platform_core.conf import webhooks_settings

    monkeypatch.setattr(Engine, "running", property(lambda self: True))
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/a")
    local, now, ws = engine_new(), timezone.now(), webhooks_settings()
    local._cache.load([endpoint.pk], now, ws)  # what a first claim leaves: its view, its window
    local._slots.window(endpoint.pk, ws)

    local._due[endpoint.pk] = now
    held_back = local.reserve({endpoint.pk: 5}, now=now)
    local._due[endpoint.pk] = now + timedelta(minutes=5)  # a retry, later
    granted = local.reserve({endpoint.pk: 5}, now=now)

    assert held_back is None
    assert granted is not None
    assert granted.counts == {endpoint.pk: 5}


def test_a_scheduled_events_deliveries_are_never_handed_over_early(
    tenant, invoice_paid, receiver, engine
):
    endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    _warm(tenant, engine, lambda: len(receiver.received()))
    later = timezone.now() + timedelta(seconds=1.5)
    scheduled = publish_event(tenant, "invoice.paid", {"later": True}, deliver_at=later)
    now = publish_event(tenant, "invoice.paid", {"now": True})

    assert events_fan_out_pending(tenant_id=tenant.pk) == 2

    assert _wait(lambda: len(receiver.received()) == 2)
    (handed,) = engine.handed
    assert [c.event_id for c in handed.claimed] == [now.pk]
    waiting = Delivery.objects.get(event=scheduled)
    assert waiting.status == "pending"
    assert waiting.next_attempt_at == later
    # The engine's discovery finds it once due.
    assert _wait(lambda: len(receiver.received()) == 3, timeout=10)
    assert receiver.received()[-1].headers["webhook-id"] == scheduled.pk
    assert _wait(lambda: Attempt.objects.filter(delivery=waiting).exists())
    assert Attempt.objects.get(delivery=waiting).started_at >= later
