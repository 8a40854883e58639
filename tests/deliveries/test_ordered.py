"""Ordered endpoints: one delivery at a time in publish order; while one retries, the later
ones are held; a skip lets the next go; endpoints beside them are not held up."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from deliveries import publish_event
from deliveries.engine.loop import Engine
from deliveries.models import Attempt, Delivery
from deliveries.services.endpoint_lifecycle import endpoint_disable, endpoint_update
from deliveries.services.engines import engine_new
from deliveries.services.fanout import event_fan_out, events_fan_out_pending
from deliveries.services.lifecycle import delivery_skip
from deliveries.services.publishing import event_send_test
from deliveries.services.sweep import sweep
from deliveries.templatetags.delivery_status import waiting
from endpoints.models import AuditEntry, Endpoint
from endpoints.services import endpoint_create
from tests.dashboard.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_retries(settings):  # type: ignore[no-untyped-def]
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.05] * 40
    settings.WEBHOOKS_RETRY_JITTER = 0
    settings.WEBHOOKS_CIRCUIT_FAILURE_THRESHOLD = 1000  # a flaky run must not open the circuit


def _drain(engine: Engine, done, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "not drained in time"
        engine.run_until_idle()
        time.sleep(0.02)


def _ids(receiver, path: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.headers["webhook-id"] for r in receiver.received(path)]


def test_a_flaky_receiver_sees_every_event_in_order_with_retries_only_of_the_head(
    tenant, invoice_paid, receiver
):
    ordered, _ = endpoint_create(tenant=tenant, url=receiver.url("/flaky/35/ordered"), ordered=True)
    plain, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok/plain"))
    events = [publish_event(tenant, "invoice.paid", {"n": n}) for n in range(25)]
    assert events == sorted(events, key=lambda e: e.pk)  # ids are in publish order
    events_fan_out_pending(tenant_id=tenant.pk)
    # Fanned out held, all but the first.
    statuses = dict(Delivery.objects.filter(endpoint=ordered).values_list("event_id", "status"))
    assert statuses[events[0].pk] == "pending"
    assert {statuses[e.pk] for e in events[1:]} == {"held"}

    _drain(
        engine_new(),
        lambda: Delivery.objects.filter(endpoint=ordered, status="succeeded").count() == 25,
    )

    got = _ids(receiver, "/flaky/35/ordered")
    assert len(got) > 25  # some were retried
    # Each event arrives only after every earlier one succeeded: collapsing repeats (a head's
    # retries) gives exactly the events in publish order.
    collapsed = [pk for i, pk in enumerate(got) if i == 0 or got[i - 1] != pk]
    assert collapsed == [e.pk for e in events]
    assert sorted(_ids(receiver, "/ok/plain")) == sorted(e.pk for e in events)
    assert Attempt.objects.filter(endpoint=ordered).count() == len(got)


def test_a_head_that_exhausts_its_schedule_lets_the_next_go(
    tenant, invoice_paid, receiver, settings
):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.05]
    ordered, _ = endpoint_create(tenant=tenant, url=receiver.url("/status/500"), ordered=True)
    first = publish_event(tenant, "invoice.paid", {})
    second = publish_event(tenant, "invoice.paid", {})
    events_fan_out_pending(tenant_id=tenant.pk)

    _drain(
        engine_new(),
        lambda: (
            not Delivery.objects.filter(
                endpoint=ordered, status__in=("held", "pending", "sending")
            ).exists()
        ),
    )

    assert _ids(receiver, "/status/500") == [first.pk, first.pk, second.pk, second.pk]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"failed"}


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(make_user("sam", is_staff=True))
    return client


@pytest.fixture
def stuck(tenant, invoice_paid, receiver, settings):  # type: ignore[no-untyped-def]
    """An ordered endpoint whose first delivery retries in an hour: two more wait behind it."""
    settings.WEBHOOKS_RETRY_SCHEDULE = [3600]
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/status/503"), ordered=True)
    events = [publish_event(tenant, "invoice.paid", {"n": n}) for n in range(3)]
    events_fan_out_pending(tenant_id=tenant.pk)
    engine_new().run_until_idle()
    by_event = {d.event_id: d for d in Delivery.objects.select_related("endpoint")}
    return endpoint, [by_event[e.pk] for e in events]


def test_later_deliveries_say_what_they_wait_behind(stuck):
    _, (head, second, third) = stuck
    head.refresh_from_db()
    assert head.status == "pending"
    assert head.attempt_count == 1
    assert waiting(second) == (
        f"waiting behind delivery {head.pk}: the endpoint sends in publish order"
    )
    assert waiting(third) == waiting(second)
    sweep()  # the repair pass releases nothing while the head is pending
    assert Delivery.objects.filter(status="held").count() == 2


def test_skipping_the_head_sends_the_next_and_is_audited(stuck, receiver, staff_client):
    endpoint, (head, second, third) = stuck
    response = staff_client.post(reverse("support-delivery-skip", args=[head.pk]))

    assert response.status_code == 302
    head.refresh_from_db()
    assert head.status == "cancelled"
    assert "skipped by hand" in head.cancel_reason
    assert AuditEntry.objects.get(action="delivery.skip").target_id == str(head.pk)
    second.refresh_from_db()
    assert second.status == "pending"
    engine_new().run_until_idle()
    assert _ids(receiver, "/status/503")[-1] == second.event_id
    third.refresh_from_db()
    assert third.status == "held"
    with pytest.raises(Exception, match="Only a waiting delivery can be skipped; this one is done"):
        delivery_skip(delivery=head)


def test_a_tenant_user_cannot_skip(stuck, tenant):  # type: ignore[no-untyped-def]
    _, (head, _, _) = stuck
    client = Client()
    client.force_login(make_user("alice", tenants=(tenant,)))
    response = client.post(reverse("support-delivery-skip", args=[head.pk]))
    assert response.status_code in (302, 403)
    head.refresh_from_db()
    assert head.status == "pending"


def test_turning_ordering_off_lets_every_held_one_go(stuck):
    endpoint, (_, second, third) = stuck
    endpoint_update(endpoint=endpoint, ordered=False)
    assert set(
        Delivery.objects.filter(pk__in=[second.pk, third.pk]).values_list("status", flat=True)
    ) == {"pending"}


def test_ordering_off_in_the_admin_is_caught_by_the_sweep(stuck):
    endpoint, (_, second, third) = stuck
    Endpoint.objects.filter(pk=endpoint.pk).update(ordered=False)
    sweep()
    assert not Delivery.objects.filter(status="held").exists()


def test_disabling_cancels_what_is_held(stuck):
    endpoint, deliveries = stuck
    endpoint_disable(endpoint=endpoint, reason="test")
    statuses = set(Delivery.objects.values_list("status", flat=True))
    assert statuses == {"cancelled"}


def test_a_test_event_is_not_held(stuck, receiver):
    endpoint, _ = stuck
    event = event_send_test(endpoint=endpoint, event_type="invoice.paid")
    event_fan_out(event_id=event.pk)
    assert Delivery.objects.get(event=event).status == "pending"


def test_a_head_lost_with_its_worker_releases_the_next_once_recovered(
    tenant, invoice_paid, receiver, settings
):
    settings.WEBHOOKS_RETRY_SCHEDULE = []
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"), ordered=True)
    for n in range(2):
        publish_event(tenant, "invoice.paid", {"n": n})
    events_fan_out_pending(tenant_id=tenant.pk)
    head = Delivery.objects.get(status="pending")
    Delivery.objects.filter(pk=head.pk).update(
        status="sending", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    sweep()

    head.refresh_from_db()
    assert head.status == "failed"  # no retries: the lost try was its one
    assert Delivery.objects.filter(endpoint=endpoint, status="pending").count() == 1


def test_an_event_fanned_out_late_still_goes_first(tenant, invoice_paid, receiver):
    """Fan-outs of single events can finish out of order: the later event waits for it."""
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"), ordered=True)
    first = publish_event(tenant, "invoice.paid", {"n": 1})
    second = publish_event(tenant, "invoice.paid", {"n": 2})

    event_fan_out(event_id=second.pk)
    assert Delivery.objects.get(event=second).status == "held"
    event_fan_out(event_id=first.pk)
    assert Delivery.objects.get(event=first).status == "pending"
    _drain(engine_new(), lambda: Delivery.objects.filter(status="succeeded").count() == 2)

    assert _ids(receiver, "/ok") == [first.pk, second.pk]
    assert endpoint.deliveries.count() == 2


def test_create_endpoint_takes_ordered(tenant, receiver, capsys):  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    call_command("create_endpoint", tenant.slug, receiver.url("/ok"), "--ordered", "--json")
    assert Endpoint.objects.get().ordered is True
    assert '"ordered": true' in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_a_busy_engine_still_sends_an_ordered_endpoints_next_one(
    tenant, invoice_paid, user_created, receiver, settings
):
    """With the sender's room almost all taken (a receiver holding 15 of 16 requests), plain
    claims wait for room to free; an ordered endpoint's next delivery goes at once anyway."""
    from deliveries.engine import register_local

    settings.WEBHOOKS_SENDER_MAX_PENDING = 16
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 15
    settings.WEBHOOKS_ATTEMPT_TIMEOUT = 30  # the held requests keep their room throughout
    endpoint_create(tenant=tenant, url=receiver.url("/hold"), event_types=["invoice.paid"])
    ordered, _ = endpoint_create(
        tenant=tenant, url=receiver.url("/ok/ordered"), ordered=True, event_types=["user.created"]
    )
    for n in range(15):
        publish_event(tenant, "invoice.paid", {"n": n})
    events_fan_out_pending(tenant_id=tenant.pk)
    engine = engine_new()
    engine.start()
    try:
        receiver.wait_for(15, "/hold", timeout=15)
        for n in range(3):
            publish_event(tenant, "user.created", {"n": n})
        events_fan_out_pending(tenant_id=tenant.pk)
        done = Delivery.objects.filter(endpoint=ordered, status="succeeded")
        deadline = time.monotonic() + 8
        while done.count() < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert done.count() == 3
        assert len(receiver.received("/hold")) == 15  # still held: no room was freed
    finally:
        receiver.release.set()
        engine.stop(timeout=15)
        register_local(None)


def test_a_scheduled_event_holds_nothing_back_and_takes_its_place_when_due(tenant, invoice_paid):
    ordered, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/ordered", ordered=True)
    now = timezone.now()
    later = publish_event(tenant, "invoice.paid", {"n": 0}, deliver_at=now + timedelta(days=29))
    first = publish_event(tenant, "invoice.paid", {"n": 1})
    second = publish_event(tenant, "invoice.paid", {"n": 2})
    events_fan_out_pending(tenant_id=tenant.pk)

    def status() -> dict[str, str]:
        rows = Delivery.objects.filter(endpoint=ordered).values_list("event_id", "status")
        return {pk: state for pk, state in rows}

    # Due now goes first, in publish order; the scheduled one waits for its time, held.
    assert status() == {later.pk: "held", first.pk: "pending", second.pk: "held"}
    Delivery.objects.filter(event=first, endpoint=ordered).update(status="succeeded")
    sweep()
    assert status() == {later.pk: "held", first.pk: "succeeded", second.pk: "pending"}
    Delivery.objects.filter(event=second, endpoint=ordered).update(status="succeeded")
    # Once due, the sweep releases it (before anything due after it).
    third = publish_event(tenant, "invoice.paid", {"n": 3})
    events_fan_out_pending(tenant_id=tenant.pk)
    assert status()[third.pk] == "pending"
    Delivery.objects.filter(event=third, endpoint=ordered).update(status="succeeded")
    sweep(now=timezone.now() + timedelta(days=29, seconds=1))
    assert status()[later.pk] == "pending"


def _claim_round_with_room_for_two(tenant, receiver, settings, plain: int, ordered: int):  # type: ignore[no-untyped-def]
    """A claim round with room for two: ``plain`` endpoints due since long ago, then
    ``ordered`` ones due just now (their previous delivery just recorded), each with
    deliveries pending. Returns the plain and ordered endpoint ids and what it claimed."""
    from deliveries.engine.endpoint_cache import EndpointCache
    from deliveries.engine.rounds import claim_round
    from deliveries.engine.slots import Slots
    from platform_core.conf import webhooks_settings

    settings.WEBHOOKS_SENDER_MAX_PENDING = 2
    plains = [
        endpoint_create(tenant=tenant, url=receiver.url(f"/ok/plain-{i}"))[0].pk
        for i in range(plain)
    ]
    ordereds = [
        endpoint_create(tenant=tenant, url=receiver.url(f"/ok/ordered-{i}"), ordered=True)[0].pk
        for i in range(ordered)
    ]
    for n in range(3):
        publish_event(tenant, "invoice.paid", {"n": n})
    events_fan_out_pending(tenant_id=tenant.pk)
    now, ws = timezone.now(), webhooks_settings()
    due = {e: now - timedelta(seconds=10 - i) for i, e in enumerate(plains)}
    due.update(dict.fromkeys(ordereds, now))
    cache = EndpointCache()
    cache.load(list(due), now, ws)  # all known, as in a running engine
    claimed = claim_round(
        list(due), flying=0, slots=Slots(), cache=cache, due=due, held={}, now=now, ws=ws
    )
    assert claimed is not None
    return plains, ordereds, [c.endpoint_id for c in claimed.claimed]


def test_a_claim_round_short_of_room_serves_an_ordered_endpoint_before_older_plain_ones(
    tenant, invoice_paid, receiver, settings
):
    """Four plain endpoints due since long ago and an ordered one due just now: its head is
    claimed (it asks for one, and waits for nothing else), not left behind every older plain
    one."""
    _, (ordered,), claimed = _claim_round_with_room_for_two(
        tenant, receiver, settings, plain=4, ordered=1
    )
    assert len(claimed) == 2
    assert ordered in claimed
    head = Delivery.objects.filter(endpoint_id=ordered).order_by("pk").first()
    assert head.status == "sending"


def test_ordered_endpoints_go_first_for_half_the_room_only(
    tenant, invoice_paid, receiver, settings
):
    """Many ordered endpoints due do not starve plain ones: half the room goes to them first,
    the rest to the oldest due."""
    (plain, _), ordereds, claimed = _claim_round_with_room_for_two(
        tenant, receiver, settings, plain=2, ordered=4
    )
    assert len(claimed) == 2
    assert plain in claimed
    assert len(set(claimed) & set(ordereds)) == 1
