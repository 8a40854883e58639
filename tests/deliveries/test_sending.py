"""Each outcome of a real POST to a real receiver on 127.0.0.1: attempt row, state, next try."""

import base64
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from deliveries import publish_event
from deliveries.models import Attempt, Delivery
from deliveries.services.endpoint_lifecycle import endpoint_update
from deliveries.services.fanout import event_fan_out
from deliveries.services.lifecycle import delivery_replay
from endpoints.models import Endpoint
from endpoints.services import endpoint_create, endpoint_secret_rotate
from tests.engine import deliver_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def send(tenant, invoice_paid):
    """Publish one event to ``path`` on the receiver, fan it out and send the first try."""

    def _send(receiver, path, **endpoint_kwargs):
        endpoint, secret = endpoint_create(tenant=tenant, url=receiver.url(path), **endpoint_kwargs)
        event = publish_event(tenant, "invoice.paid", {"invoice_id": "in_1"})
        event_fan_out(event_id=event.pk)
        delivery = Delivery.objects.get(event=event, endpoint=endpoint)
        summary = deliver_due()
        delivery.refresh_from_db()
        return delivery, secret, summary

    return _send


def _attempt(delivery):
    return Attempt.objects.get(delivery=delivery)


def test_200_succeeds_and_the_request_verifies(receiver, send):
    delivery, secret, summary = send(receiver, "/ok")

    (request,) = receiver.received()
    attempt = _attempt(delivery)
    assert summary.succeeded == 1
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.next_attempt_at is None
    assert delivery.attempt_count == 1
    assert attempt.number == 1
    assert attempt.trigger == Attempt.Trigger.SCHEDULED
    assert attempt.response_status == 200
    assert attempt.response_body == "ok"
    assert attempt.response_headers["x-receiver"] == "tests"
    assert attempt.error == ""
    assert attempt.request_url == receiver.url("/ok")
    assert attempt.request_headers["webhook-id"] == delivery.event_id
    assert request.headers["webhook-id"] == delivery.event_id
    assert request.headers["content-type"] == "application/json"
    assert request.body == delivery.event.body.encode()
    assert Webhook(secret).verify(request.body, request.headers)["data"] == {"invoice_id": "in_1"}


def test_500_schedules_the_next_try_from_the_schedule(receiver, send, settings):
    settings.WEBHOOKS_RETRY_JITTER = 0
    before = timezone.now()
    delivery, _, summary = send(receiver, "/status/500")

    attempt = _attempt(delivery)
    assert summary.retrying == 1
    assert delivery.status == Delivery.Status.PENDING
    assert attempt.response_status == 500
    assert attempt.response_body == "status 500"
    assert delivery.last_status_code == 500
    assert before + timedelta(seconds=5) <= delivery.next_attempt_at
    assert delivery.next_attempt_at <= timezone.now() + timedelta(seconds=5)


def test_jittered_delay_is_within_twenty_percent(receiver, send):
    before = timezone.now()
    delivery, _, _ = send(receiver, "/status/500")
    delay = (delivery.next_attempt_at - before).total_seconds()
    assert 4.0 - 0.5 <= delay <= 6.0 + 0.5


def test_410_fails_the_delivery_and_disables_the_endpoint(receiver, send):
    delivery, _, _ = send(receiver, "/status/410")

    endpoint = Endpoint.objects.get(pk=delivery.endpoint_id)
    assert delivery.status == Delivery.Status.FAILED
    assert _attempt(delivery).response_status == 410
    assert endpoint.enabled is False
    assert endpoint.disabled_reason == "the receiver answered 410 Gone"
    assert endpoint.disabled_at is not None


def test_429_honours_retry_after(receiver, send, settings):
    settings.WEBHOOKS_RETRY_JITTER = 0
    before = timezone.now()
    delivery, _, _ = send(receiver, "/status/429?retry_after=120")

    assert delivery.status == Delivery.Status.PENDING
    assert _attempt(delivery).response_headers["retry-after"] == "120"
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 120 <= wait <= 122


def test_503_retry_after_is_bounded(receiver, send, settings):
    settings.WEBHOOKS_RETRY_AFTER_MAX = 60
    before = timezone.now()
    delivery, _, _ = send(receiver, "/status/503?retry_after=86400")
    assert 60 <= (delivery.next_attempt_at - before).total_seconds() <= 62


def test_timeout_is_recorded_without_a_response(receiver, send, settings):
    settings.WEBHOOKS_ATTEMPT_TIMEOUT = 0.5
    started = time.monotonic()
    delivery, _, _ = send(receiver, "/hang/3")

    attempt = _attempt(delivery)
    assert time.monotonic() - started < 2.5
    assert attempt.response_status == 0
    assert attempt.error == "timeout"
    assert 450 <= attempt.duration_ms < 2000
    assert delivery.status == Delivery.Status.PENDING


def test_redirect_is_a_failure_and_not_followed(receiver, send):
    delivery, _, _ = send(receiver, "/redirect")

    attempt = _attempt(delivery)
    assert attempt.response_status == 302
    assert attempt.response_headers["location"] == "http://127.0.0.1:1/elsewhere"
    assert delivery.status == Delivery.Status.PENDING
    assert [r.path for r in receiver.received()] == ["/redirect"]


def test_closed_connection_is_recorded(receiver, send):
    delivery, _, _ = send(receiver, "/close")
    attempt = _attempt(delivery)
    assert attempt.response_status == 0
    assert attempt.error == "connection closed by server"


def test_refused_connection_is_recorded(send, receiver):
    class Nowhere:
        @staticmethod
        def url(path):
            return "http://127.0.0.1:9" + path

    delivery, _, _ = send(Nowhere, "/x")
    assert _attempt(delivery).error == "connection refused"


def test_non_utf8_body_is_stored_base64(receiver, send):
    delivery, _, _ = send(receiver, "/binary")
    attempt = _attempt(delivery)
    assert attempt.response_body_encoding == Attempt.BodyEncoding.BASE64
    assert base64.b64decode(attempt.response_body) == b"\xff\xfe\x00binary"


def test_response_body_is_capped(receiver, send, settings):
    settings.WEBHOOKS_RESPONSE_BODY_LIMIT = 20_000
    delivery, _, _ = send(receiver, "/big")
    assert len(_attempt(delivery).response_body) == 20_000


def test_schedule_exhausted_fails_after_the_last_try(receiver, send, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0, 0]
    delivery, _, _ = send(receiver, "/status/500")
    deliver_due()
    deliver_due()
    delivery.refresh_from_db()

    numbers = list(Attempt.objects.filter(delivery=delivery).values_list("number", flat=True))
    assert numbers == [1, 2, 3]
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.finished_at is not None
    assert len(receiver.received()) == 3


def test_not_due_and_finished_deliveries_are_not_sent_again(receiver, send):
    failing, _, _ = send(receiver, "/status/500")  # its next try is 5 s away
    ok, _, _ = send(receiver, "/ok")
    sent = len(receiver.received())

    summary = deliver_due()

    assert (summary.succeeded, summary.retrying, summary.failed) == (0, 0, 0)
    assert len(receiver.received()) == sent
    assert (failing.status, ok.status) == (Delivery.Status.PENDING, Delivery.Status.SUCCEEDED)


def test_custom_headers_are_sent_and_cannot_override_ours(receiver, send):
    delivery, _, _ = send(receiver, "/ok", headers={"X-Tenant-Token": "abc"})
    (request,) = receiver.received()
    assert request.headers["x-tenant-token"] == "abc"


def test_rotation_signs_with_both_secrets_during_the_grace_period(receiver, send, tenant):
    delivery, old_secret, _ = send(receiver, "/ok")
    endpoint = Endpoint.objects.get(pk=delivery.endpoint_id)
    new_secret = endpoint_secret_rotate(endpoint=endpoint, grace_period_seconds=3600)
    event = publish_event(tenant, "invoice.paid", {"n": 2})
    event_fan_out(event_id=event.pk)
    deliver_due()

    request = receiver.received()[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new_secret).verify(request.body, request.headers)["data"] == {"n": 2}
    assert Webhook(old_secret).verify(request.body, request.headers)["data"] == {"n": 2}


def test_rotation_without_grace_drops_the_old_secret(receiver, send, tenant):
    delivery, old_secret, _ = send(receiver, "/ok")
    endpoint = Endpoint.objects.get(pk=delivery.endpoint_id)
    new_secret = endpoint_secret_rotate(endpoint=endpoint, grace_period_seconds=0)
    event = publish_event(tenant, "invoice.paid", {"n": 3})
    event_fan_out(event_id=event.pk)
    deliver_due()

    request = receiver.received()[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert Webhook(new_secret).verify(request.body, request.headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(old_secret).verify(request.body, request.headers)


def test_manual_replay_is_a_manual_attempt_with_the_same_webhook_id(receiver, send):
    delivery, _, _ = send(receiver, "/ok")
    delivery_replay(delivery=delivery)
    deliver_due()
    delivery.refresh_from_db()

    first, second = Attempt.objects.filter(delivery=delivery).order_by("number")
    assert (first.trigger, second.trigger) == ("scheduled", "manual")
    assert second.number == 2
    assert delivery.status == Delivery.Status.SUCCEEDED
    ids = [r.headers["webhook-id"] for r in receiver.received()]
    assert ids == [delivery.event_id, delivery.event_id]


def test_blocked_address_is_recorded_without_connecting(receiver, send, settings):
    delivery, _, _ = send(receiver, "/ok")
    settings.WEBHOOKS_ALLOWED_SUBNETS = []  # loopback is now forbidden
    delivery_replay(delivery=delivery)
    deliver_due()

    last = Attempt.objects.filter(delivery=delivery).order_by("-number").first()
    assert last.error == "blocked: 127.0.0.1 is a loopback address"
    assert last.response_status == 0
    assert len(receiver.received()) == 1  # only the first, allowed, attempt arrived


def test_dns_answer_pointing_inside_is_blocked_on_every_attempt(receiver, send, dns):
    dns["hooks.customer.test"] = ["93.184.215.14"]
    delivery, _, _ = send(receiver, "/ok")
    endpoint = Endpoint.objects.get(pk=delivery.endpoint_id)
    port = receiver.server.server_port
    endpoint_update(endpoint=endpoint, url=f"http://hooks.customer.test:{port}/ok")
    dns["hooks.customer.test"] = ["169.254.169.254"]  # rebinding after the check at save
    delivery_replay(delivery=delivery)
    deliver_due()

    last = Attempt.objects.filter(delivery=delivery).order_by("-number").first()
    assert last.error == (
        "blocked: hooks.customer.test resolves to a link-local address (169.254.169.254)"
    )


def test_endpoint_failing_for_five_days_is_disabled(receiver, send):
    delivery, _, _ = send(receiver, "/status/500")
    Endpoint.objects.filter(pk=delivery.endpoint_id).update(
        failing_since=timezone.now() - timedelta(days=5, minutes=1)
    )
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    deliver_due()

    endpoint = Endpoint.objects.get(pk=delivery.endpoint_id)
    delivery.refresh_from_db()
    assert endpoint.enabled is False
    assert endpoint.disabled_reason.startswith("every attempt failed for 5 days")
    assert delivery.status == Delivery.Status.CANCELLED


def test_success_clears_the_failing_run(receiver, send):
    delivery, _, _ = send(receiver, "/status/500")
    assert Endpoint.objects.get(pk=delivery.endpoint_id).failing_since is not None
    ok, _, _ = send(receiver, "/ok")
    assert Endpoint.objects.get(pk=ok.endpoint_id).failing_since is None


def test_a_batch_is_sent_concurrently(receiver, tenant, invoice_paid, settings):
    settings.WEBHOOKS_ATTEMPT_TIMEOUT = 5
    endpoints = [
        endpoint_create(tenant=tenant, url=receiver.url(f"/hang/1?n={i}"))[0] for i in range(10)
    ]
    event = publish_event(tenant, "invoice.paid", {})
    event_fan_out(event_id=event.pk)

    started = time.monotonic()
    summary = deliver_due()

    assert summary.succeeded == len(endpoints)
    assert time.monotonic() - started < 4  # ten 1-second answers, side by side


def test_body_sent_is_the_body_signed(receiver, send):
    delivery, secret, _ = send(receiver, "/ok")
    (request,) = receiver.received()
    assert json.loads(request.body)["type"] == "invoice.paid"
    assert Webhook(secret).verify(request.body, request.headers)


def test_response_headers_that_are_not_utf8_are_stored_readably(receiver, send):
    delivery, _, _ = send(receiver, "/badheader")
    attempt = _attempt(delivery)
    assert attempt.response_status == 200
    assert attempt.response_headers["x-bad"] == "\ufffd\ufffd"
    json.dumps(attempt.response_headers)  # no lone surrogates left


def test_a_trailing_dot_host_is_checked_and_delivered(receiver, tenant, invoice_paid, dns):
    dns["hooks.test."] = ["127.0.0.1"]
    port = receiver.server.server_port
    endpoint, _ = endpoint_create(tenant=tenant, url=f"http://hooks.test.:{port}/ok")
    event = publish_event(tenant, "invoice.paid", {})
    event_fan_out(event_id=event.pk)

    summary = deliver_due()

    assert summary.succeeded == 1
    assert len(receiver.received()) == 1


def test_an_endpoint_whose_secret_cannot_be_decrypted_waits_and_holds_no_one_else(
    receiver, tenant, other_tenant, invoice_paid, settings
):
    from cryptography.fernet import Fernet

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.WEBHOOKS_ENCRYPTION_KEYS = [old_key]
    endpoint_create(tenant=tenant, url=receiver.url("/lost-key"))
    settings.WEBHOOKS_ENCRYPTION_KEYS = [new_key]  # the old key was lost
    endpoint_create(tenant=other_tenant, url=receiver.url("/ok"))
    for owner in (tenant, other_tenant):
        event_fan_out(event_id=publish_event(owner, "invoice.paid", {}).pk)

    summary = deliver_due()

    waiting = Delivery.objects.get(tenant=tenant)
    assert summary.succeeded == 1
    assert [r.path for r in receiver.received()] == ["/ok"]
    assert (waiting.status, waiting.attempt_count) == ("pending", 0)
    assert not Attempt.objects.filter(delivery=waiting).exists()

    settings.WEBHOOKS_ENCRYPTION_KEYS = [new_key, old_key]  # the key is found again
    assert deliver_due().succeeded == 1
    waiting.refresh_from_db()
    assert waiting.status == "succeeded"


def test_a_blanked_body_is_never_sent(receiver, tenant, invoice_paid):
    from deliveries.models import Event

    endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    event = publish_event(tenant, "invoice.paid", {})
    event_fan_out(event_id=event.pk)
    Event.objects.filter(pk=event.pk).update(body="")

    deliver_due()

    assert _attempt(Delivery.objects.get(event=event)).error == (
        "event payload was removed by retention"
    )
    assert receiver.received() == []
