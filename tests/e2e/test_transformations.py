"""Transformations through a real worker process: Slack-shaped bodies, a URL chosen by event
type, cancelled events, and a hostile script beside a healthy endpoint."""

from __future__ import annotations

import json
import time

import pytest
from standardwebhooks.webhooks import Webhook

from deliveries import publish_event
from deliveries.models import Attempt, Delivery
from endpoints.services import endpoint_create
from endpoints.services.transformations import transformation_update

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SLACK = """
function handler(webhook) {
  const d = webhook.payload.data;
  webhook.payload = {text: `Invoice ${d.invoice_id} paid: ${d.amount / 100} EUR`};
  return webhook;
}
"""
BY_TYPE = """
function handler(webhook) {
  webhook.url = webhook.url + '/' + webhook.eventType.split('.')[0];
  return webhook;
}
"""
CANCEL_SMALL = """
function handler(webhook) {
  if ((webhook.payload.data.amount || 0) < 100) webhook.cancel = true;
  return webhook;
}
"""


def _wait(predicate, timeout=60.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _transformed(tenant, url, code, **kwargs):  # type: ignore[no-untyped-def]
    endpoint, secret = endpoint_create(tenant=tenant, url=url, **kwargs)
    transformation_update(endpoint=endpoint, code=code, enabled=True)
    return endpoint, secret


def test_transformations_shape_route_and_cancel_through_a_worker(
    worker, receiver, tenant, invoice_paid, user_created
):
    slack, slack_secret = _transformed(
        tenant, receiver.url("/slack"), SLACK, event_types=["invoice.paid"]
    )
    _transformed(tenant, receiver.url("/routed"), BY_TYPE)
    big_only, _ = _transformed(
        tenant, receiver.url("/big"), CANCEL_SMALL, event_types=["invoice.paid"]
    )
    small = publish_event(tenant, "invoice.paid", {"invoice_id": "in_1", "amount": 50})
    large = publish_event(tenant, "invoice.paid", {"invoice_id": "in_2", "amount": 4200})
    publish_event(tenant, "user.created", {"user": "u_1"})

    assert _wait(lambda: len(receiver.received()) >= 2 + 2 + 1), worker.output()
    assert _wait(
        lambda: (
            not Delivery.objects.exclude(
                status__in=[Delivery.Status.SUCCEEDED, Delivery.Status.CANCELLED]
            ).exists()
        )
    )
    time.sleep(0.5)  # anything extra would arrive now

    texts = sorted(json.loads(r.body)["text"] for r in receiver.received("/slack"))
    assert texts == ["Invoice in_1 paid: 0.5 EUR", "Invoice in_2 paid: 42 EUR"]
    for got in receiver.received("/slack"):
        Webhook(slack_secret).verify(got.body, got.headers)
    assert sorted(r.path for r in receiver.received("/routed")) == [
        "/routed/invoice",
        "/routed/invoice",
        "/routed/user",
    ]
    assert [json.loads(r.body)["data"]["invoice_id"] for r in receiver.received("/big")] == ["in_2"]
    cancelled = Delivery.objects.get(event=small, endpoint=big_only)
    assert cancelled.status == Delivery.Status.CANCELLED
    assert cancelled.cancel_reason == "cancelled by transformation v1: nothing sent"
    assert Delivery.objects.get(event=large, endpoint=big_only).status == "succeeded"
    assert set(
        Attempt.objects.filter(endpoint=slack).values_list("transformation_version", flat=True)
    ) == {1}


def test_a_looping_script_fails_its_attempts_and_the_endpoint_beside_it_is_served(
    worker, receiver, tenant, invoice_paid
):
    hostile, _ = _transformed(
        tenant, receiver.url("/hostile"), "function handler(w) { while (true) {} }"
    )
    healthy, _ = endpoint_create(tenant=tenant, url=receiver.url("/healthy"))
    events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(20)]

    assert _wait(lambda: len(receiver.received("/healthy")) >= 20), worker.output()
    assert _wait(lambda: Attempt.objects.filter(endpoint=hostile).count() >= 5, timeout=90), (
        worker.output()
    )

    assert receiver.received("/hostile") == []
    errors = set(Attempt.objects.filter(endpoint=hostile).values_list("error", flat=True))
    # Stopped by QuickJS at its CPU limit, or, on a machine too loaded to give the sandbox
    # that CPU within the grace, by the worker killing the sandbox process: both say so.
    assert errors <= {
        "transformation v1 failed: transformation timed out: stopped at its 50 ms CPU time limit",
        "transformation v1 failed: transformation timed out: still running 50 ms + 1 s after it "
        "started, so its sandbox was stopped",
    }
    got = sorted(r.headers["webhook-id"] for r in receiver.received("/healthy"))
    assert got == sorted(e.pk for e in events)
    assert worker.proc.poll() is None  # the worker is still up
