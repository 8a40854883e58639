"""Payload filters at fan-out: an endpoint receives the events its filter passes, on every path
that creates deliveries (one event, a tenant's drain), and says so when it cannot decide."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.management import call_command
from django.db import connection

from deliveries import publish_event
from deliveries.models import Delivery
from deliveries.services import subscribers
from deliveries.services.endpoint_lifecycle import endpoint_update
from deliveries.services.engines import engine_new
from deliveries.services.fanout import event_fan_out, events_fan_out_pending
from deliveries.services.publishing import event_send_test
from endpoints.models import Endpoint
from endpoints.payload_filter import filter_matches
from endpoints.services import endpoint_create
from tests.ops.test_metrics import TOKEN, delta, scrape

pytestmark = pytest.mark.django_db

BIG_EUROS = {"data.amount": {"$gte": 1000}, "data.currency": {"$in": ["EUR"]}}


def _endpoints(tenant, receiver):  # type: ignore[no-untyped-def]
    plain, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok/plain"))
    big, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok/big"), payload_filter=BIG_EUROS)
    return plain, big


def _amounts(receiver, path: str) -> list[int]:  # type: ignore[no-untyped-def]
    return sorted(json.loads(r.body)["data"]["amount"] for r in receiver.received(path))


@pytest.mark.parametrize("path", ["one event", "tenant drain"])
def test_a_filtered_endpoint_gets_only_what_its_filter_passes(tenant, invoice_paid, receiver, path):
    plain, big = _endpoints(tenant, receiver)
    sent = [(5, "EUR"), (1000, "EUR"), (2500, "USD"), (7000, "EUR")]
    events = [publish_event(tenant, "invoice.paid", {"amount": a, "currency": c}) for a, c in sent]
    if path == "one event":
        for event in events:
            event_fan_out(event_id=event.pk)
    else:
        events_fan_out_pending(tenant_id=tenant.pk)

    engine_new().run_until_idle()

    assert _amounts(receiver, "/ok/plain") == [5, 1000, 2500, 7000]
    assert _amounts(receiver, "/ok/big") == [1000, 7000]
    # No delivery exists for what was filtered out: nothing waits, nothing is logged as failed.
    assert Delivery.objects.filter(endpoint=big).count() == 2
    assert Delivery.objects.filter(endpoint=plain).count() == 4


def test_a_filter_that_cannot_be_evaluated_skips_the_endpoint_and_says_so(
    tenant, invoice_paid, receiver, caplog, settings
):
    settings.WEBHOOKS_METRICS_TOKEN = TOKEN
    _, big = _endpoints(tenant, receiver)
    before = scrape()
    odd = publish_event(tenant, "invoice.paid", {"amount": "a lot", "currency": "EUR"})
    small = publish_event(tenant, "invoice.paid", {"amount": 1, "currency": "EUR"})

    with caplog.at_level(logging.WARNING, logger="deliveries.services.subscribers"):
        events_fan_out_pending(tenant_id=tenant.pk)

    after = scrape()
    assert not Delivery.objects.filter(endpoint=big).exists()
    (record,) = [r for r in caplog.records if "could not be evaluated" in r.getMessage()]
    assert (record.event_id, record.endpoint_id) == (odd.pk, big.pk)
    assert "$gte needs a number to compare with, the body has a string" in record.reason
    assert "a lot" not in record.getMessage()  # the body is never logged
    assert delta(before, after, "webhooks_fanout_filtered_total", reason="unevaluable") == 1
    assert delta(before, after, "webhooks_fanout_filtered_total", reason="no_match") == 1
    assert small.pk != odd.pk


def test_a_test_event_reaches_its_endpoint_whatever_the_filter(tenant, invoice_paid, receiver):
    _, big = _endpoints(tenant, receiver)
    test = event_send_test(endpoint=big, event_type="invoice.paid", payload={"amount": 1})
    event_fan_out(event_id=test.pk)

    engine_new().run_until_idle()

    assert _amounts(receiver, "/ok/big") == [1]


def test_a_filter_changed_or_removed_applies_to_the_next_events(tenant, invoice_paid, receiver):
    _, big = _endpoints(tenant, receiver)
    endpoint_update(endpoint=big, payload_filter={"data.currency": "USD"})
    usd = publish_event(tenant, "invoice.paid", {"amount": 1, "currency": "USD"})
    event_fan_out(event_id=usd.pk)
    endpoint_update(endpoint=big, payload_filter=None)
    anything = publish_event(tenant, "invoice.paid", {"amount": 2, "currency": "SEK"})
    event_fan_out(event_id=anything.pk)

    engine_new().run_until_idle()

    assert _amounts(receiver, "/ok/big") == [1, 2]
    assert Endpoint.objects.get(pk=big.pk).payload_filter is None


def test_create_endpoint_takes_a_filter(tenant, capsys):  # type: ignore[no-untyped-def]
    call_command(
        "create_endpoint", tenant.slug, "http://127.0.0.1:9/x", "--filter", json.dumps(BIG_EUROS)
    )
    endpoint = Endpoint.objects.get(tenant=tenant)
    assert endpoint.payload_filter == BIG_EUROS
    with pytest.raises(Exception, match="unknown operator"):
        call_command(
            "create_endpoint", tenant.slug, "http://127.0.0.1:9/y", "--filter", '{"a": {"$x": 1}}'
        )
    with pytest.raises(Exception, match="--filter is not valid JSON"):
        call_command("create_endpoint", tenant.slug, "http://127.0.0.1:9/z", "--filter", "{")


# A filter stored before the cost limits: 48 patterns of about 450,000 RE2 instructions each
# (each held a web thread for seconds on a 250 KB event), saved past today's checks.
HEAVY = {"$or": [{"data.blob": {"$regex": f"\\pL{{{380 - n}}}\\pN"}} for n in range(48)]}


@pytest.mark.parametrize("path", ["one event", "tenant drain"])
def test_a_heavy_stored_filter_on_a_large_event_is_over_budget_and_skips_the_endpoint(
    tenant, invoice_paid, receiver, caplog, settings, path
):
    settings.WEBHOOKS_METRICS_TOKEN = TOKEN
    plain, big = _endpoints(tenant, receiver)
    Endpoint.objects.filter(pk=big.pk).update(payload_filter=HEAVY)
    before = scrape()
    large = publish_event(tenant, "invoice.paid", {"amount": 1, "blob": "é" * 125_000})

    with caplog.at_level(logging.WARNING, logger="deliveries.services.subscribers"):
        if path == "one event":
            event_fan_out(event_id=large.pk)
        else:
            events_fan_out_pending(tenant_id=tenant.pk)

    after = scrape()
    assert len(large.body.encode()) > 250_000
    assert not Delivery.objects.filter(endpoint=big).exists()
    assert Delivery.objects.filter(endpoint=plain, event=large).count() == 1
    (record,) = [r for r in caplog.records if "could not be evaluated" in r.getMessage()]
    assert (record.event_id, record.endpoint_id) == (large.pk, big.pk)
    assert record.reason.startswith("data.blob: $regex pattern too complex to run")
    assert delta(before, after, "webhooks_fanout_filtered_total", reason="over_budget") == 1
    assert delta(before, after, "webhooks_fanout_filtered_total", reason="unevaluable") == 0


@pytest.mark.parametrize("path", ["one event", "tenant drain"])
def test_payload_filters_run_outside_the_fan_out_transaction(
    tenant, invoice_paid, receiver, monkeypatch, path
):
    """The fan-out holds no transaction (and so no event row lock) while filters run: their
    work is bounded per evaluation, but not across a drain of many events."""
    _, big = _endpoints(tenant, receiver)
    events = [
        publish_event(tenant, "invoice.paid", {"amount": a, "currency": "EUR"}) for a in (5, 5000)
    ]
    outside = len(connection.atomic_blocks)  # the test's own transaction, if any
    depths: list[int] = []

    def spying(spec, body):  # type: ignore[no-untyped-def]
        depths.append(len(connection.atomic_blocks))
        return filter_matches(spec, body)

    monkeypatch.setattr(subscribers, "filter_matches", spying)
    if path == "one event":
        for event in events:
            event_fan_out(event_id=event.pk)
    else:
        events_fan_out_pending(tenant_id=tenant.pk)

    assert depths == [outside, outside]
    assert list(Delivery.objects.filter(endpoint=big).values_list("event_id", flat=True)) == [
        events[1].pk
    ]
