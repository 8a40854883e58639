"""Transformations through the engine (turned in the test's thread) against a real receiver."""

from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook

from deliveries import publish_event as _publish_event
from deliveries.models import Attempt, Delivery
from deliveries.services.fanout import event_fan_out
from deliveries.services.lifecycle import delivery_replay
from endpoints.services import endpoint_create
from endpoints.services.transformations import transformation_update
from tests.engine import deliver_due

pytestmark = pytest.mark.django_db(transaction=True)

SLACK = """
function handler(webhook) {
  const d = webhook.payload.data;
  webhook.payload = {text: `Invoice ${d.invoice_id} paid: ${d.amount / 100} EUR`};
  return webhook;
}
"""


def publish_event(tenant, event_type, payload):  # type: ignore[no-untyped-def]
    event = _publish_event(tenant, event_type, payload)
    event_fan_out(event_id=event.pk)
    return event


@pytest.fixture
def fast_retries(settings):  # type: ignore[no-untyped-def]
    settings.WEBHOOKS_RETRY_SCHEDULE = [0, 0, 0]
    settings.WEBHOOKS_RETRY_JITTER = 0
    return settings


def _transformed(tenant, url, code):  # type: ignore[no-untyped-def]
    endpoint, secret = endpoint_create(tenant=tenant, url=url)
    transformation_update(endpoint=endpoint, code=code, enabled=True)
    return endpoint, secret


def test_a_transformation_shapes_the_body_that_is_signed_and_sent(receiver, tenant, invoice_paid):
    endpoint, secret = _transformed(tenant, receiver.url("/slack"), SLACK)
    publish_event(tenant, "invoice.paid", {"invoice_id": "in_1", "amount": 4200})

    deliver_due()

    [got] = receiver.received("/slack")
    assert json.loads(got.body) == {"text": "Invoice in_1 paid: 42 EUR"}
    Webhook(secret).verify(got.body, got.headers)  # the signature covers the shaped body
    attempt = Attempt.objects.get(endpoint=endpoint)
    assert attempt.transformation_version == 1
    assert attempt.request_method == "POST"
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.transformed["body"] == got.body.decode()


def test_retries_and_replays_send_the_bytes_of_the_first_run(
    receiver, tenant, invoice_paid, fast_retries
):
    # Math.random(): a second run would give another body; a stored run gives the same one.
    code = "function handler(w) { w.payload = {n: Math.random()}; w.method = 'PUT'; return w; }"
    endpoint, _ = _transformed(tenant, receiver.url("/status/500"), code)
    publish_event(tenant, "invoice.paid", {"invoice_id": "in_1"})

    deliver_due()
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == Delivery.Status.FAILED
    delivery_replay(delivery=delivery)
    deliver_due()

    got = receiver.received("/status/500")
    assert len(got) == 5  # four scheduled tries and the replay
    assert len({r.body for r in got}) == 1
    assert {r.method for r in got} == {"PUT"}
    assert set(Attempt.objects.values_list("transformation_version", flat=True)) == {1}


def test_the_url_can_depend_on_the_event_type(receiver, tenant, invoice_paid, user_created):
    code = """
    function handler(w) {
      w.url = w.url + (w.eventType === 'user.created' ? '/users' : '/billing');
      return w;
    }
    """
    _transformed(tenant, receiver.url("/by-type"), code)
    publish_event(tenant, "invoice.paid", {"n": 1})
    publish_event(tenant, "user.created", {"n": 2})

    deliver_due()

    paths = sorted(r.path for r in receiver.received("/by-type"))
    assert paths == ["/by-type/billing", "/by-type/users"]
    urls = sorted(Attempt.objects.values_list("request_url", flat=True))
    assert urls == [receiver.url("/by-type/billing"), receiver.url("/by-type/users")]


def test_a_cancelled_delivery_sends_nothing_and_says_why(receiver, tenant, invoice_paid):
    code = """
    function handler(w) {
      if (w.payload.data.amount < 100) { w.cancel = true; }
      return w;
    }
    """
    endpoint, _ = _transformed(tenant, receiver.url("/big"), code)
    small = publish_event(tenant, "invoice.paid", {"amount": 5})
    big = publish_event(tenant, "invoice.paid", {"amount": 500})

    deliver_due()

    assert [json.loads(r.body)["data"]["amount"] for r in receiver.received("/big")] == [500]
    cancelled = Delivery.objects.get(event=small)
    assert cancelled.status == Delivery.Status.CANCELLED
    assert cancelled.cancel_reason == "cancelled by transformation v1: nothing sent"
    attempt = Attempt.objects.get(delivery=cancelled)
    assert attempt.error == "cancelled by transformation v1: nothing sent"
    assert attempt.response_status == 0
    assert Delivery.objects.get(event=big).status == Delivery.Status.SUCCEEDED
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


HOSTILE = {
    "endless loop": (
        "function handler(w) { while (true) {} }",
        "transformation v1 failed: transformation timed out: stopped at its 50 ms CPU time limit",
    ),
    "1 GB allocation": (
        "function handler(w) { const a = new Array(2 ** 28).fill(0); return w; }",
        "transformation v1 failed: transformation ran out of memory: stopped at its 32 MiB limit",
    ),
    "throwing": (
        "function handler(w) { throw new Error('no amount'); }",
        "transformation v1 failed: transformation threw Error: no amount",
    ),
    "returning a string": (
        "function handler(w) { return 'hello'; }",
        "transformation v1 failed: transformation returned a string, not the webhook object",
    ),
    "reading process": (
        "function handler(w) { w.payload = process.env; return w; }",
        "transformation v1 failed: transformation threw ReferenceError: 'process' is not defined",
    ),
    "calling require": (
        "function handler(w) { require('fs'); return w; }",
        "transformation v1 failed: transformation threw ReferenceError: 'require' is not defined",
    ),
    "calling fetch": (
        "function handler(w) { fetch('http://127.0.0.1:1/'); return w; }",
        "transformation v1 failed: transformation threw ReferenceError: 'fetch' is not defined",
    ),
    "a method we do not send": (
        "function handler(w) { w.method = 'CONNECT'; return w; }",
        'transformation v1 failed: transformation returned method "CONNECT": use one of '
        "POST, PUT, PATCH, DELETE",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_script_fails_its_attempt_with_a_clear_error(
    name, receiver, tenant, invoice_paid, fast_retries
):
    code, error = HOSTILE[name]
    endpoint, _ = _transformed(tenant, receiver.url("/hostile"), code)
    publish_event(tenant, "invoice.paid", {"amount": 1})

    deliver_due()

    assert receiver.received("/hostile") == []
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == Delivery.Status.FAILED  # counted as failures, retried, given up
    errors = list(Attempt.objects.filter(delivery=delivery).values_list("error", flat=True))
    assert errors == [error] * 4


def test_a_transformed_url_passes_the_ssrf_checks_on_every_attempt(
    receiver, tenant, invoice_paid, settings
):
    moved = receiver.url("/moved")
    code = f"function handler(w) {{ w.url = '{moved}'; return w; }}"
    endpoint, _ = _transformed(tenant, receiver.url("/configured"), code)
    publish_event(tenant, "invoice.paid", {})
    settings.WEBHOOKS_ALLOWED_SUBNETS = []  # loopback forbidden from now on

    deliver_due()

    assert receiver.received() == []
    attempt = Attempt.objects.get(endpoint=endpoint)
    assert attempt.request_url == receiver.url("/moved")
    assert attempt.error.startswith("blocked: ")


def test_disabling_keeps_the_code_and_sends_untransformed(receiver, tenant, invoice_paid):
    endpoint, _ = _transformed(tenant, receiver.url("/plain"), SLACK)
    transformation_update(endpoint=endpoint, enabled=False)
    publish_event(tenant, "invoice.paid", {"invoice_id": "in_2", "amount": 1})

    deliver_due()

    [got] = receiver.received("/plain")
    assert json.loads(got.body)["data"] == {"invoice_id": "in_2", "amount": 1}
    assert endpoint.transformations.get().code == SLACK
    assert Attempt.objects.get(endpoint=endpoint).transformation_version is None


def test_each_attempt_names_the_version_that_shaped_it(receiver, tenant, invoice_paid):
    endpoint, _ = _transformed(tenant, receiver.url("/v"), SLACK)
    transformation_update(
        endpoint=endpoint, code="function handler(w) { w.payload = {v: 2}; return w; }"
    )
    publish_event(tenant, "invoice.paid", {})

    deliver_due()

    [got] = receiver.received("/v")
    assert json.loads(got.body) == {"v": 2}
    assert Attempt.objects.get(endpoint=endpoint).transformation_version == 2
    assert sorted(endpoint.transformations.values_list("version", flat=True)) == [1, 2]


def test_the_attempt_page_shows_the_request_as_sent(receiver, tenant, invoice_paid, client):
    from django.urls import reverse

    from tests.dashboard.conftest import make_user

    code = "function handler(w) { w.method = 'PUT'; w.payload = {shaped: true}; return w; }"
    endpoint, _ = _transformed(tenant, receiver.url("/page"), code)
    publish_event(tenant, "invoice.paid", {"raw": 1})
    deliver_due()
    client.force_login(make_user("alice", tenants=(tenant,)))

    attempt = Attempt.objects.get(endpoint=endpoint)
    html = client.get(reverse("attempt-detail", args=[attempt.pk])).content.decode()

    assert '<span class="badge">PUT</span>' in html
    assert "Shaped by transformation version 1." in html
    assert "&quot;shaped&quot;: true" in html
    assert "&quot;raw&quot;" not in html
