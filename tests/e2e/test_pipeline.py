"""Real worker processes, the configured broker and database, and a real receiver."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest
import stripe
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from deliveries import publish_event
from deliveries.models import Attempt, Delivery
from deliveries.services.endpoint_lifecycle import endpoint_update
from deliveries.services.lifecycle import delivery_replay
from deliveries.services.sweep import LEASE_LOST_ERROR, sweep
from endpoints.services import endpoint_create, event_type_update
from tests.nodejs import node_json, node_ready
from tests.workers import start_worker
from webhooks_platform.celery import app as celery_app

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _wait(predicate, timeout=30.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def test_every_subscribed_endpoint_gets_each_event_once(
    worker, receiver, tenant, invoice_paid, user_created
):
    invoices, invoices_secret = endpoint_create(
        tenant=tenant, url=receiver.url("/invoices"), event_types=["invoice.paid"]
    )
    users, users_secret = endpoint_create(
        tenant=tenant, url=receiver.url("/users"), event_types=["user.created"]
    )
    everything, everything_secret = endpoint_create(tenant=tenant, url=receiver.url("/all"))
    invoice_events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(5)]
    user_events = [publish_event(tenant, "user.created", {"n": i}) for i in range(3)]

    receiver.wait_for(5 + 3 + 8, timeout=60)
    time.sleep(1)  # anything extra would arrive now

    def ids(prefix, secret):
        got = receiver.received(prefix)
        for request in got:
            Webhook(secret).verify(request.body, request.headers)
        return sorted(r.headers["webhook-id"] for r in got)

    assert ids("/invoices", invoices_secret) == sorted(e.pk for e in invoice_events)
    assert ids("/users", users_secret) == sorted(e.pk for e in user_events)
    assert ids("/all", everything_secret) == sorted(e.pk for e in invoice_events + user_events)
    assert _wait(lambda: Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 16)
    assert Attempt.objects.count() == 16


def test_failures_are_retried_by_the_worker_until_they_give_up(
    worker, receiver, tenant, invoice_paid
):
    endpoint_create(tenant=tenant, url=receiver.url("/status/500"))
    event = publish_event(tenant, "invoice.paid", {})

    def finished():
        sweep()  # what beat does every few seconds
        return Delivery.objects.filter(event=event, status=Delivery.Status.FAILED).exists()

    assert _wait(finished, timeout=60, interval=0.3)
    numbers = list(Attempt.objects.filter(delivery__event=event).values_list("number", flat=True))
    assert sorted(numbers) == [1, 2, 3, 4]
    assert len(receiver.received()) == 4


def test_broker_loss_is_recovered_by_the_sweeper(
    tmp_path, e2e_settings, clean_broker, receiver, tenant, invoice_paid
):
    endpoint_create(tenant=tenant, url=receiver.url("/a"))
    endpoint_create(tenant=tenant, url=receiver.url("/b"))
    events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(10)]

    celery_app.control.purge()  # the broker loses every queued fan-out
    proc = start_worker(tmp_path)
    try:
        time.sleep(1.5)
        assert receiver.received() == []
        sweep()  # the fan-outs are overdue: queued again
        assert _wait(lambda: Delivery.objects.count() == 20)
        celery_app.control.purge()  # and the broker loses whatever deliveries are still queued
        time.sleep(1.2)

        def all_arrived():
            sweep()  # what beat does every few seconds
            return len(receiver.received()) >= 20

        assert _wait(all_arrived, timeout=60, interval=0.5), proc.output()
        time.sleep(1)
    finally:
        proc.stop()

    got = receiver.received()
    expected = sorted(e.pk for e in events)
    assert sorted(r.headers["webhook-id"] for r in got if r.path == "/a") == expected
    assert sorted(r.headers["webhook-id"] for r in got if r.path == "/b") == expected


def test_worker_killed_mid_request_is_sent_again(
    tmp_path, e2e_settings, clean_broker, receiver, tenant, invoice_paid
):
    endpoint_create(tenant=tenant, url=receiver.url("/hold"))
    event = publish_event(tenant, "invoice.paid", {})
    first = start_worker(tmp_path, name="doomed")
    assert receiver.wait_for(1, timeout=30), first.output()
    first.kill()  # SIGKILL while the receiver holds the request

    delivery = Delivery.objects.get(event=event)
    assert delivery.status == Delivery.Status.SENDING
    # Let the lease run out (as it would after attempt_timeout * 2 + 30 s), then sweep.
    Delivery.objects.filter(pk=delivery.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    receiver.release.set()
    second = start_worker(tmp_path, name="survivor")
    try:
        report = sweep()
        assert report.leases_recovered == 1

        def delivered():
            sweep()
            return Delivery.objects.filter(pk=delivery.pk, status="succeeded").exists()

        assert _wait(delivered, timeout=30, interval=0.3), second.output()
    finally:
        second.stop()

    attempts = list(Attempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.error) for a in attempts] == [(1, LEASE_LOST_ERROR), (2, "")]
    assert attempts[1].response_status == 200
    assert [r.headers["webhook-id"] for r in receiver.received()] == [event.pk, event.pk]


def test_a_killed_worker_costs_a_try_only_for_requests_it_had_started(
    tmp_path, e2e_settings, clean_broker, receiver, tenant, invoice_paid
):
    """The engine claims only what it can start: after kill -9, the lease recovery charges a
    try to the requests that were in flight, and nothing else of the backlog."""
    # Held requests must not reach the attempt timeout before the kill: a timed-out one would be
    # recorded and sent again, and the count of requests would no longer be the count in flight.
    e2e_settings.WEBHOOKS_ATTEMPT_TIMEOUT = 120
    endpoint_create(tenant=tenant, url=receiver.url("/hold"))
    events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(40)]
    doomed = start_worker(tmp_path, name="doomed")
    try:
        assert receiver.wait_for(10, timeout=30), doomed.output()
        time.sleep(1)  # anything else it would claim, it would have claimed by now
    finally:
        doomed.kill()
        receiver.release.set()
    started = len(receiver.received())

    Delivery.objects.filter(status=Delivery.Status.SENDING).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    report = sweep()

    assert report.leases_recovered == started
    assert Attempt.objects.filter(error=LEASE_LOST_ERROR).count() == started
    untouched = Delivery.objects.filter(status=Delivery.Status.PENDING, attempt_count=0)
    assert untouched.count() == len(events) - started


def test_a_real_worker_signs_each_endpoint_in_its_style(worker, receiver, tenant, invoice_paid):
    """GitHub's and Stripe's own verifiers, and an Ed25519 check by ``cryptography``, accept
    what a worker sends (every style in the test's own engine:
    tests/deliveries/test_signature_styles.py)."""
    _, github_secret = endpoint_create(
        tenant=tenant, url=receiver.url("/github"), signature_style="github"
    )
    _, stripe_secret = endpoint_create(
        tenant=tenant, url=receiver.url("/stripe"), signature_style="stripe"
    )
    _, public_key = endpoint_create(
        tenant=tenant, url=receiver.url("/ed25519"), signature_style="ed25519"
    )
    events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(3)]

    receiver.wait_for(9, timeout=60)

    github = receiver.received("/github")
    verified = node_json(
        node_ready(),
        "verify_github.mjs",
        [
            {
                "secret": github_secret,
                "payload": r.body.decode(),
                "signature": r.headers["x-hub-signature-256"],
            }
            for r in github
        ],
    )
    assert verified == [True] * 3
    assert sorted(r.headers["x-github-delivery"] for r in github) == sorted(e.pk for e in events)
    stripe_got = receiver.received("/stripe")
    stripe_events = [
        stripe.Webhook.construct_event(
            r.body.decode(), r.headers["stripe-signature"], stripe_secret
        )
        for r in stripe_got
    ]
    assert sorted(e["data"]["object"]["n"] for e in stripe_events) == [0, 1, 2]
    assert sorted(e.id for e in stripe_events) == sorted(e.pk for e in events)
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    for r in receiver.received("/ed25519"):
        version, _, signature = r.headers["webhook-signature"].partition(",")
        signed = f"{r.headers['webhook-id']}.{r.headers['webhook-timestamp']}.".encode() + r.body
        assert version == "v1a"
        key.verify(base64.b64decode(signature), signed)  # raises InvalidSignature
    assert _wait(lambda: Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 9)


def test_a_real_worker_sends_a_filtered_endpoint_only_what_passes(
    worker, receiver, tenant, invoice_paid
):
    endpoint_create(tenant=tenant, url=receiver.url("/plain"))
    endpoint_create(
        tenant=tenant, url=receiver.url("/big"), payload_filter={"data.amount": {"$gte": 100}}
    )
    for amount in (1, 150, 99, 100):
        publish_event(tenant, "invoice.paid", {"amount": amount})

    receiver.wait_for(4 + 2, timeout=60)
    time.sleep(1)  # anything extra would arrive now

    big = sorted(json.loads(r.body)["data"]["amount"] for r in receiver.received("/big"))
    assert big == [100, 150]
    assert len(receiver.received("/plain")) == 4


def test_a_real_worker_retries_each_endpoint_on_its_own_schedule(
    tmp_path, e2e_settings, clean_broker, receiver, tenant, invoice_paid
):
    # The platform's schedule is [0.5] * 3 here (4 tries); the event type's set before the
    # worker starts, so that its first read already has it.
    event_type_update(event_type=invoice_paid, retry_schedule=[1, 1])
    endpoint_create(tenant=tenant, url=receiver.url("/status/500/own"), retry_schedule=[1])
    endpoint_create(tenant=tenant, url=receiver.url("/status/500/single"), retry_schedule=[])
    endpoint_create(tenant=tenant, url=receiver.url("/status/500/by-type"))
    worker = start_worker(tmp_path)
    try:
        event = publish_event(tenant, "invoice.paid", {})

        def finished():
            sweep()
            return Delivery.objects.filter(event=event, status=Delivery.Status.FAILED).count() == 3

        assert _wait(finished, timeout=60, interval=0.3)
    finally:
        worker.stop()
    time.sleep(0.5)  # a try beyond a schedule would arrive now
    assert len(receiver.received("/status/500/own")) == 2
    assert len(receiver.received("/status/500/single")) == 1
    assert len(receiver.received("/status/500/by-type")) == 3
    tries = Attempt.objects.filter(delivery__event=event).values_list("number", flat=True)
    assert sorted(tries) == [1, 1, 1, 2, 2, 3]


def test_a_real_worker_sends_an_ordered_endpoint_in_order_beside_a_plain_one(
    worker, receiver, tenant, invoice_paid
):
    endpoint_create(
        tenant=tenant, url=receiver.url("/flaky/30/ordered"), ordered=True, retry_schedule=[1] * 20
    )
    endpoint_create(tenant=tenant, url=receiver.url("/plain"))
    events = [publish_event(tenant, "invoice.paid", {"n": n}) for n in range(12)]

    def done():
        sweep()
        return Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 24

    assert _wait(done, timeout=90, interval=0.3)
    got = [r.headers["webhook-id"] for r in receiver.received("/flaky/30/ordered")]
    collapsed = [pk for i, pk in enumerate(got) if i == 0 or got[i - 1] != pk]
    assert collapsed == [e.pk for e in events]  # in order; repeats are only the head's retries
    assert len(receiver.received("/plain")) == 12


def test_a_real_worker_sends_a_replay_of_a_failed_delivery(worker, receiver, tenant, invoice_paid):
    endpoint, _ = endpoint_create(
        tenant=tenant, url=receiver.url("/status/500/replayed"), retry_schedule=[]
    )
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    assert _wait(lambda: Delivery.objects.filter(event=event, status="failed").exists(), 60)

    endpoint_update(endpoint=endpoint, url=receiver.url("/ok/replayed"))
    delivery_replay(delivery=Delivery.objects.get(event=event))

    replayed = receiver.wait_for(1, "/ok/replayed", timeout=60)
    assert [r.headers["webhook-id"] for r in replayed] == [event.pk]
    assert _wait(lambda: Delivery.objects.filter(event=event, status="succeeded").exists())
    tries = Attempt.objects.filter(delivery__event=event).order_by("number")
    assert [(a.number, a.trigger) for a in tries] == [(1, "scheduled"), (2, "manual")]
