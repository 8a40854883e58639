"""Scheduled events (deliver_at): their deliveries exist at once and wait for their time, through
the engine and the sweeper, and a time that cannot be kept is refused with the reason."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from deliveries import PublishError, publish_event, publish_events
from deliveries.models import Attempt, Delivery, Event
from deliveries.selectors import events_filter
from deliveries.services.engines import engine_new
from deliveries.services.fanout import event_fan_out, events_fan_out_pending
from deliveries.services.sweep import sweep
from deliveries.templatetags.delivery_status import waiting
from endpoints.services import endpoint_create
from tests.engine import deliver_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def ok(tenant, invoice_paid, receiver):  # type: ignore[no-untyped-def]
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    return endpoint


def test_a_scheduled_event_waits_for_its_time_then_goes_out(tenant, ok, receiver):
    later = timezone.now() + timedelta(seconds=1.5)
    scheduled = publish_event(tenant, "invoice.paid", {"n": 1}, deliver_at=later)
    at_once = publish_event(tenant, "invoice.paid", {"n": 2})
    events_fan_out_pending(tenant_id=tenant.pk)
    engine = engine_new()

    engine.run_until_idle()

    assert [r.headers["webhook-id"] for r in receiver.received()] == [at_once.pk]
    delivery = Delivery.objects.select_related("endpoint").get(event=scheduled)
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.next_attempt_at == later
    assert waiting(delivery).startswith("scheduled: first try at ")
    assert list(events_filter(tenant=tenant, scheduled=True)) == [scheduled]
    assert list(events_filter(tenant=tenant, scheduled=False)) == [at_once]

    time.sleep(max(0.0, (later - timezone.now()).total_seconds()) + 0.05)
    engine.run_until_idle()

    assert [r.headers["webhook-id"] for r in receiver.received()][-1] == scheduled.pk
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.started_at >= later
    assert list(events_filter(tenant=tenant, scheduled=True)) == []


def test_the_sweeper_keeps_the_time_too(tenant, ok, receiver):
    later = timezone.now() + timedelta(hours=1)
    event = publish_event(tenant, "invoice.paid", {}, deliver_at=later)
    event_fan_out(event_id=event.pk)
    delivery = Delivery.objects.get(event=event)

    assert deliver_due().succeeded == 0
    sweep()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.next_attempt_at == later
    assert receiver.received() == []

    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert deliver_due().succeeded == 1


def test_a_time_already_past_means_at_once(tenant, ok):
    event = publish_event(
        tenant, "invoice.paid", {}, deliver_at=timezone.now() - timedelta(minutes=1)
    )
    assert event.deliver_at is None
    assert Event.objects.get(pk=event.pk).deliver_at is None


@pytest.mark.parametrize(
    ("deliver_at", "message"),
    [
        (timedelta(days=31), "deliver_at is at most 30 days ahead"),
        (datetime(2030, 1, 1, 12, 0), "deliver_at needs a time zone"),  # noqa: DTZ001
        ("next tuesday", "deliver_at 'next tuesday' is not an ISO 8601 time"),
        (1_800_000_000, "deliver_at must be an ISO 8601 time"),
    ],
)
def test_a_time_that_cannot_be_kept_is_refused_and_nothing_is_stored(
    tenant, ok, deliver_at, message
):
    if isinstance(deliver_at, timedelta):
        deliver_at = timezone.now() + deliver_at
    with pytest.raises(PublishError, match=message):
        publish_event(tenant, "invoice.paid", {}, deliver_at=deliver_at)
    assert not Event.objects.exists()


def test_iso_text_is_taken_as_the_api_sends_it(tenant, ok):
    moment = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert publish_event(tenant, "invoice.paid", {}, deliver_at=text).deliver_at == moment


def test_a_batch_schedules_each_item_on_its_own(tenant, ok):
    later = timezone.now() + timedelta(hours=2)
    results = publish_events(
        tenant,
        [
            {"event_type": "invoice.paid", "payload": {}, "deliver_at": later},
            {"event_type": "invoice.paid", "payload": {}},
            {"event_type": "invoice.paid", "payload": {}, "deliver_at": "soon"},
        ],
    )

    assert [r.status for r in results] == ["created", "created", "error"]
    assert "deliver_at 'soon' is not an ISO 8601 time" in results[2].error
    assert Event.objects.get(pk=results[0].event.pk).deliver_at == later
    assert Event.objects.get(pk=results[1].event.pk).deliver_at is None


def test_a_circuit_reset_or_a_re_enable_keeps_a_scheduled_deliverys_time(tenant, ok):
    from deliveries.services.endpoint_lifecycle import (
        endpoint_circuit_reset,
        endpoint_disable,
        endpoint_enable,
    )

    later = timezone.now() + timedelta(days=2)
    event = publish_event(tenant, "invoice.paid", {}, deliver_at=later)
    event_fan_out(event_id=event.pk)
    ok.circuit_state = "open"
    ok.save()

    endpoint_circuit_reset(endpoint=ok)
    assert Delivery.objects.get(event=event).next_attempt_at == later

    endpoint_disable(endpoint=ok, reason="test")
    assert Delivery.objects.get(event=event).status == "cancelled"
    ok.refresh_from_db()
    endpoint_enable(endpoint=ok)
    revived = Delivery.objects.get(event=event)
    assert (revived.status, revived.next_attempt_at) == ("pending", later)
