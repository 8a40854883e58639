"""Batched fan-out: one drain fans out every waiting event of a tenant in bulk."""

import pytest
from django.conf import settings

from deliveries import publish_event
from deliveries.models import Delivery, Event
from deliveries.services import dispatch
from deliveries.services.fanout import events_fan_out_pending
from deliveries.tasks import fan_out_tenant
from endpoints.services import endpoint_create

pytestmark = pytest.mark.django_db

ON_REDIS = settings.CELERY_BROKER_URL.startswith("redis")


def test_a_drain_fans_out_every_waiting_event_of_the_tenant(
    tenant, other_tenant, invoice_paid, user_created
):
    invoices, _ = endpoint_create(
        tenant=tenant, url="http://127.0.0.1:9/a", event_types=["invoice.paid"]
    )
    everything, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/b")
    endpoint_create(tenant=other_tenant, url="http://127.0.0.1:9/c")
    paid = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(3)]
    users = [publish_event(tenant, "user.created", {"n": i}) for i in range(2)]
    theirs = publish_event(other_tenant, "invoice.paid", {})

    drained = events_fan_out_pending(tenant_id=tenant.pk)
    again = events_fan_out_pending(tenant_id=tenant.pk)

    assert (drained, again) == (5, 0)
    pairs = set(Delivery.objects.values_list("event_id", "endpoint_id"))
    assert pairs == {(e.pk, invoices.pk) for e in paid} | {
        (e.pk, everything.pk) for e in paid + users
    }
    assert Event.objects.get(pk=theirs.pk).fanned_out_at is None  # another tenant's: untouched
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}


@pytest.mark.skipif(not ON_REDIS, reason="the per-tenant flag lives in Redis")
def test_only_the_first_publish_sends_a_message_until_the_drain_runs(
    tenant, invoice_paid, django_capture_on_commit_callbacks
):
    from webhooks_platform.celery import app as celery_app

    celery_app.control.purge()
    client = dispatch._redis()
    client.delete(dispatch.fanout_flag_key(tenant.pk))
    endpoint_create(tenant=tenant, url="http://127.0.0.1:9/a")

    with django_capture_on_commit_callbacks(execute=True):
        publish_event(tenant, "invoice.paid", {"n": 1})
    with django_capture_on_commit_callbacks(execute=True):
        publish_event(tenant, "invoice.paid", {"n": 2})

    with celery_app.connection_for_write() as conn:
        queued = conn.default_channel.client.llen("webhooks.deliver")
    assert queued == 1  # one fan-out message for both events
    assert client.exists(dispatch.fanout_flag_key(tenant.pk))

    assert fan_out_tenant(tenant.pk) == 2
    assert not client.exists(dispatch.fanout_flag_key(tenant.pk))
    assert Delivery.objects.count() == 2
    celery_app.control.purge()


def test_a_drain_lingers_only_while_the_tenant_streams(tenant, invoice_paid, settings, monkeypatch):
    from deliveries.services import fanout

    settings.WEBHOOKS_FANOUT_LINGER_MS = 40
    endpoint_create(tenant=tenant, url="http://127.0.0.1:9/a")
    slept: list[float] = []
    monkeypatch.setattr(fanout.time, "sleep", slept.append)
    fanout._last_drain.pop(tenant.pk, None)

    publish_event(tenant, "invoice.paid", {"n": 1})
    first = fanout.fan_out_tenant_drain(tenant_id=tenant.pk)  # after a quiet spell: at once
    publish_event(tenant, "invoice.paid", {"n": 2})
    second = fanout.fan_out_tenant_drain(tenant_id=tenant.pk)  # a stream: gathers the burst
    fanout._last_drain[tenant.pk] -= fanout.STREAM_GAP_SECONDS + 1
    publish_event(tenant, "invoice.paid", {"n": 3})
    third = fanout.fan_out_tenant_drain(tenant_id=tenant.pk)  # quiet again: at once

    assert (first, second, third) == (1, 1, 1)
    assert slept == [0.04, 0.04]  # the stream's drain lingered, took one, lingered, found none
    assert Delivery.objects.count() == 3


@pytest.mark.skipif(not ON_REDIS, reason="the fan-out flag lives in Redis")
def test_a_streaming_drain_holds_the_flag_and_takes_the_stream_without_messages(
    tenant, invoice_paid, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """While a tenant streams, one drain takes every linger's events with the flag up: the
    publishes meanwhile send no message. When a linger brings nothing, the flag drops and a
    last drain runs; a publish after that raises the flag again."""
    from deliveries.services import fanout
    from webhooks_platform.celery import app as celery_app

    settings.WEBHOOKS_FANOUT_LINGER_MS = 10
    celery_app.control.purge()
    client = dispatch._redis()
    flag = dispatch.fanout_flag_key(tenant.pk)
    client.delete(flag)
    endpoint_create(tenant=tenant, url="http://127.0.0.1:9/a")
    fanout._last_drain[tenant.pk] = fanout.time.monotonic()  # it has been streaming
    with django_capture_on_commit_callbacks(execute=True):
        publish_event(tenant, "invoice.paid", {"n": 0})  # raises the flag: one message
    stream = iter(range(1, 4))
    flags_seen: list[bool] = []

    def linger(seconds: float) -> None:  # each linger, the product publishes one more event
        flags_seen.append(bool(client.exists(flag)))
        n = next(stream, None)
        if n is not None:
            with django_capture_on_commit_callbacks(execute=True):
                publish_event(tenant, "invoice.paid", {"n": n})

    monkeypatch.setattr(fanout.time, "sleep", linger)
    drained = fanout.fan_out_tenant_drain(tenant_id=tenant.pk)

    with celery_app.connection_for_write() as conn:
        queued = conn.default_channel.client.llen("webhooks.deliver")
    assert drained == 4
    assert flags_seen == [True] * 4  # held through the stream
    assert queued == 1  # the first publish's message only
    assert not client.exists(flag)
    assert Delivery.objects.count() == 4
    celery_app.control.purge()
