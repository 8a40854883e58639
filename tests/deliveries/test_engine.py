"""The delivery engine against a real receiver on 127.0.0.1, turned in the test's thread."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from deliveries import publish_event
from deliveries.engine.claim import Want, claim, discover
from deliveries.engine.endpoint_cache import EndpointCache
from deliveries.engine.slots import Window
from deliveries.models import Attempt, Delivery
from deliveries.services.engines import engine_new
from deliveries.services.fanout import event_fan_out
from deliveries.services.lifecycle import delivery_replay
from endpoints.models import Endpoint
from endpoints.services import endpoint_create, endpoint_secret_rotate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_jitter(settings):
    settings.WEBHOOKS_RETRY_JITTER = 0


def _publish(tenant, count=1, **payload):
    events = []
    for i in range(count):
        event = publish_event(tenant, "invoice.paid", {"n": i, **payload})
        event_fan_out(event_id=event.pk)
        events.append(event)
    return events


def test_a_delivery_goes_out_signed_and_is_recorded(tenant, invoice_paid, receiver):
    endpoint, secret = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    (event,) = _publish(tenant)

    report = engine_new().run_until_idle()

    delivery = Delivery.objects.get(event=event)
    attempt = Attempt.objects.get(delivery=delivery)
    (request,) = receiver.received()
    assert report.succeeded == 1
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempt_count == 1
    assert delivery.claim_token is None
    assert attempt.response_status == 200
    assert attempt.number == 1
    assert attempt.request_headers["webhook-id"] == event.pk
    assert attempt.response_headers["x-receiver"] == "tests"
    assert attempt.response_body == "ok"
    assert Webhook(secret).verify(request.body, request.headers)["data"] == {"n": 0}


def test_a_failure_is_retried_on_the_schedule_and_not_before(tenant, invoice_paid, receiver):
    endpoint_create(tenant=tenant, url=receiver.url("/status/500"))
    (event,) = _publish(tenant)
    engine = engine_new()

    engine.run_until_idle()
    engine.run_until_idle()

    delivery = Delivery.objects.get(event=event)
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.attempt_count == 1
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=3)
    assert len(receiver.received()) == 1


def test_every_delivery_of_a_backlog_goes_out_once(tenant, invoice_paid, receiver):
    endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    endpoint_create(tenant=tenant, url=receiver.url("/ok2"))
    _publish(tenant, count=60)

    report = engine_new().run_until_idle()

    assert report.succeeded == 120
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 120
    assert Attempt.objects.count() == 120
    ids = [r.headers["webhook-id"] + r.path for r in receiver.received()]
    assert len(ids) == len(set(ids)) == 120


def test_only_what_the_window_allows_is_claimed_and_nothing_else_uses_a_try(
    tenant, invoice_paid, receiver, settings
):
    """A hanging receiver holds its window and nothing more: the rest stays pending, untried
    (a worker killed now would cost a try only for requests that started)."""
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 3
    endpoint_create(tenant=tenant, url=receiver.url("/hold"))
    _publish(tenant, count=10)
    engine = engine_new()
    try:
        engine.turn(wait=0)
        receiver.wait_for(3, timeout=10)
        time.sleep(0.2)
        assert Delivery.objects.filter(status=Delivery.Status.SENDING).count() == 3
        assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 7
        assert len(receiver.received()) == 3
        assert not Attempt.objects.exists()
    finally:
        receiver.release.set()
    engine.run_until_idle()
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 10


def test_an_open_circuit_sends_one_probe_when_due_and_a_manual_replay_at_once(
    tenant, invoice_paid, receiver
):
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    events = _publish(tenant, count=3)
    Endpoint.objects.filter(pk=endpoint.pk).update(
        circuit_state="open", circuit_next_probe_at=timezone.now() + timedelta(hours=8)
    )
    engine = engine_new()

    engine.run_until_idle()
    assert receiver.received() == []

    delivery = Delivery.objects.get(event=events[0])
    delivery_replay(delivery=delivery)
    engine.wake([endpoint.pk])  # what the replay's deliver message does in a worker
    engine.run_until_idle()
    # The replay went out now, as the probe; its success closed the circuit and released the rest.
    assert Attempt.objects.get(delivery=delivery).trigger == Attempt.Trigger.MANUAL
    engine.run_until_idle()
    endpoint.refresh_from_db()
    assert endpoint.circuit_state == "closed"
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 3


def test_a_due_probe_goes_alone(tenant, invoice_paid, receiver):
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/status/500"))
    _publish(tenant, count=5)
    Endpoint.objects.filter(pk=endpoint.pk).update(
        circuit_state="open", circuit_next_probe_at=timezone.now() - timedelta(seconds=1)
    )

    engine_new().run_until_idle()

    assert len(receiver.received()) == 1
    assert Attempt.objects.count() == 1


def test_the_rate_limit_holds_across_turns(tenant, invoice_paid, receiver):
    endpoint_create(tenant=tenant, url=receiver.url("/ok"), rate_limit=5)
    _publish(tenant, count=12)
    engine = engine_new()

    engine.run_until_idle(timeout=0.5)

    # A burst of one second's worth, then nothing until slots free.
    assert len(receiver.received()) == 5
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 7
    assert not Attempt.objects.filter(delivery__status=Delivery.Status.PENDING).exists()


def test_a_rotated_secret_signs_the_next_delivery(tenant, invoice_paid, receiver):
    endpoint, old = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    engine = engine_new()
    _publish(tenant)
    engine.run_until_idle()

    new = endpoint_secret_rotate(endpoint=endpoint)
    time.sleep(EndpointCache.VIEW_SECONDS)  # settings are read again this often
    _publish(tenant)
    engine.run_until_idle()

    last = receiver.received()[-1]
    assert Webhook(new).verify(last.body, last.headers)
    assert Webhook(old).verify(last.body, last.headers)
    assert len(last.headers["webhook-signature"].split()) == 2


def test_a_disabled_endpoint_is_not_claimed(tenant, invoice_paid, receiver):
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    _publish(tenant, count=2)
    Endpoint.objects.filter(pk=endpoint.pk).update(enabled=False)

    engine_new().run_until_idle()

    assert receiver.received() == []
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 2


def test_a_purged_body_is_recorded_as_a_failed_try_never_sent(tenant, invoice_paid, receiver):
    endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    (event,) = _publish(tenant)
    type(event).objects.filter(pk=event.pk).update(body="")

    engine_new().run_until_idle()

    assert receiver.received() == []
    assert Attempt.objects.get().error == "event payload was removed by retention"


def test_discovery_lists_each_endpoint_with_its_earliest_due_time(tenant, invoice_paid):
    a, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/a")
    b, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/b")
    _publish(tenant, count=3)
    later = timezone.now() + timedelta(hours=1)
    Delivery.objects.filter(endpoint=b).update(next_attempt_at=later)

    found = discover()

    assert set(found) == {a.pk, b.pk}
    assert found[a.pk] <= timezone.now()
    assert abs((found[b.pk] - later).total_seconds()) < 1


def test_a_claim_takes_at_most_what_was_asked_oldest_first(tenant, invoice_paid):
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/a")
    _publish(tenant, count=5)
    now = timezone.now()
    import uuid

    token = uuid.uuid4()
    taken = claim(
        [Want(endpoint.pk, 3)], now=now, lease_until=now + timedelta(minutes=1), token=token
    )

    oldest = list(Delivery.objects.order_by("id").values_list("id", flat=True)[:3])
    assert [c.id for c in taken] == oldest
    assert all(c.body and c.claim_token == token for c in taken)
    assert Delivery.objects.filter(status=Delivery.Status.SENDING, claim_token=token).count() == 3


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_take_disjoint_rows(tenant, invoice_paid):
    import uuid

    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/a")
    _publish(tenant, count=40)
    now = timezone.now()
    results: list[list[int]] = []

    def take() -> None:
        try:
            for _ in range(4):
                got = claim(
                    [Want(endpoint.pk, 5)],
                    now=now,
                    lease_until=now + timedelta(minutes=1),
                    token=uuid.uuid4(),
                )
                results.append([c.id for c in got])
        finally:
            connection.close()

    threads = [threading.Thread(target=take) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for r in results for i in r]
    assert len(ids) == len(set(ids)) == 40


class TestWindow:
    def test_grows_while_latency_holds(self):
        window = Window(initial=10, maximum=128)
        for i in range(100):
            window.observe(seconds=0.01, status=200, now=i * 0.01)
        assert window.size == 110

    def test_halves_on_failures_once_per_round_trip(self):
        window = Window(initial=40, maximum=128)
        window.observe(seconds=0.01, status=200, now=0)
        window.observe(seconds=0.01, status=503, now=1)
        window.observe(seconds=0.01, status=503, now=1.001)
        assert window.size == 20

    def test_the_senders_own_queueing_is_not_congestion(self):
        """A receiver that answers in 1 ms, seen through an event loop busy with a hundred other
        requests (tens of milliseconds): the window keeps growing."""
        window = Window(initial=60, maximum=128)
        window.observe(seconds=0.001, status=200, now=0)
        for i in range(100):
            window.observe(seconds=0.03, status=200, now=1 + i * 0.01)
        assert window.size == 128

    def test_shrinks_when_latency_degrades_and_stays_within_bounds(self):
        window = Window(initial=64, maximum=128)
        window.observe(seconds=0.01, status=200, now=0)
        for i in range(200):
            window.observe(seconds=0.5, status=200, now=1 + i)
        assert window.size == 1
        for i in range(10_000):
            window.observe(seconds=0.001, status=200, now=300 + i)
        assert window.size == 128


def test_one_turn_claims_across_many_endpoints_up_to_the_process_limit(
    tenant, invoice_paid, receiver, settings
):
    """An endpoint with one due delivery does not reserve a whole window of the process's room
    (one event fanned out to many endpoints goes out in one claim)."""
    settings.WEBHOOKS_SENDER_MAX_PENDING = 20
    for i in range(30):
        endpoint_create(tenant=tenant, url=receiver.url(f"/hold/{i}"))
    _publish(tenant)
    engine = engine_new()
    try:
        engine.turn(wait=0)
        assert Delivery.objects.filter(status=Delivery.Status.SENDING).count() == 20
    finally:
        receiver.release.set()
    engine.run_until_idle()
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 30


def test_a_megabyte_of_response_headers_is_stored_capped(tenant, invoice_paid, receiver):
    import json as _json

    from deliveries.transport import MAX_STORED_HEADER_BYTES, MAX_STORED_HEADERS, TRUNCATED_HEADER

    endpoint_create(tenant=tenant, url=receiver.url("/manyheaders"))
    (event,) = _publish(tenant)

    engine_new().run_until_idle()

    attempt = Attempt.objects.get(delivery__event=event)
    headers = attempt.response_headers
    assert attempt.response_status == 200, attempt.error
    assert len(headers) <= MAX_STORED_HEADERS + 2
    assert len(_json.dumps(headers)) < MAX_STORED_HEADER_BYTES * 1.2
    assert headers["retry-after"] == "7"  # the policy's header survives the cap
    assert headers[TRUNCATED_HEADER].endswith("more headers were not stored")


def test_credentials_in_custom_headers_are_sent_but_not_stored_in_attempts(
    tenant, invoice_paid, receiver
):
    endpoint_create(
        tenant=tenant,
        url=receiver.url("/ok"),
        headers={"Authorization": "Bearer s3cret", "X-Service-Token": "t0k", "X-Team": "billing"},
    )
    (event,) = _publish(tenant)

    engine_new().run_until_idle()

    (request,) = receiver.received()
    sent = {k.lower(): v for k, v in request.headers.items()}
    assert sent["authorization"] == "Bearer s3cret"
    assert sent["x-service-token"] == "t0k"
    stored = Attempt.objects.get(delivery__event=event).request_headers
    assert stored["Authorization"] == "[redacted]"
    assert stored["X-Service-Token"] == "[redacted]"
    assert stored["X-Team"] == "billing"
    assert "s3cret" not in str(stored)
    # Nor in the endpoint's own row: credential values are stored sealed.
    assert "s3cret" not in str(Endpoint.objects.get().headers)


def test_a_finished_request_does_not_send_a_claim_that_can_find_nothing(
    tenant, invoice_paid, receiver
):
    """After a claim that took all there was, results coming back are recorded without another
    claim: new work announces itself (a wake-up, discovery), so an empty claim per bulk of
    results is a statement for nothing."""
    from django.test.utils import CaptureQueriesContext

    endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    _publish(tenant, count=2)
    engine = engine_new()
    engine.turn(wait=0)  # discovery, then one claim of both
    receiver.wait_for(2, timeout=10)

    with CaptureQueriesContext(connection) as queries:
        deadline = time.monotonic() + 10
        while engine._flying and time.monotonic() < deadline:
            engine.turn(wait=0.05)

    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 2
    claims = [q["sql"] for q in queries.captured_queries if "SKIP LOCKED" in q["sql"].upper()]
    claims += [q["sql"] for q in queries.captured_queries if "SET status = 'sending'" in q["sql"]]
    assert claims == []
