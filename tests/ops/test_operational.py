"""Operational webhooks: signed, delivered through the pipeline, and never about themselves."""

from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook

from deliveries import publish_event
from deliveries.models import Delivery, Event
from deliveries.services.endpoint_lifecycle import endpoint_disable, endpoint_enable
from deliveries.services.fanout import event_fan_out
from deliveries.services.operational import (
    OPERATIONS_TENANT_SLUG,
    delivery_exhausted,
    endpoint_state_changed,
)
from endpoints.models import Endpoint, Tenant
from endpoints.services import endpoint_create, endpoint_secret_current
from tests.engine import deliver_due

pytestmark = pytest.mark.django_db

OPS_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105  (the spec's test secret)


@pytest.fixture
def operators(receiver, settings):
    """The operators' receiver, configured the way an operator would: by settings."""
    settings.WEBHOOKS_OPERATIONAL_WEBHOOK_URLS = [receiver.url("/ok")]
    settings.WEBHOOKS_OPERATIONAL_WEBHOOK_SECRET = OPS_SECRET
    return receiver


def ops_events() -> list[Event]:
    return list(Event.objects.filter(tenant__slug=OPERATIONS_TENANT_SLUG).order_by("created_at"))


def run_pipeline() -> None:
    """Fan out and send every operational event, as the workers would."""
    for event in ops_events():
        event_fan_out(event_id=event.pk)
    deliver_due()


def verified(request) -> dict:
    return Webhook(OPS_SECRET).verify(request.body, request.headers)


def test_a_disabled_endpoint_notifies_the_operators(operators, tenant, invoice_paid):
    endpoint = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/customer")[0]

    endpoint_disable(endpoint=endpoint, reason="the receiver answered 410 Gone")
    run_pipeline()

    (request,) = operators.received("/ok")
    message = verified(request)
    assert message["type"] == "endpoint.disabled"
    assert message["data"]["endpoint_id"] == endpoint.pk
    assert message["data"]["tenant"] == "acme"
    assert message["data"]["url"] == "http://127.0.0.1:9/customer"
    assert message["data"]["reason"] == "the receiver answered 410 Gone"
    assert message["data"]["enabled"] is False
    assert request.headers["webhook-id"] == ops_events()[0].pk
    delivery = Delivery.objects.get(tenant__slug=OPERATIONS_TENANT_SLUG)
    assert delivery.status == Delivery.Status.SUCCEEDED


def test_enabling_again_notifies_too(operators, tenant, invoice_paid):
    endpoint = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/customer")[0]
    endpoint_disable(endpoint=endpoint, reason="disabled by user")

    endpoint_enable(endpoint=endpoint)
    endpoint_enable(endpoint=endpoint)  # already enabled: no second notification
    run_pipeline()

    types = [verified(r)["type"] for r in operators.received("/ok")]
    assert sorted(types) == ["endpoint.disabled", "endpoint.enabled"]


def test_an_exhausted_delivery_notifies_the_operators(operators, tenant, invoice_paid, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = []
    endpoint = endpoint_create(tenant=tenant, url=operators.url("/status/500"))[0]
    event = publish_event(tenant, "invoice.paid", {"invoice_id": "in_9"})
    event_fan_out(event_id=event.pk)
    delivery = Delivery.objects.get(event=event)
    deliver_due()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED

    delivery_exhausted(delivery=delivery)
    delivery_exhausted(delivery=delivery)  # the same failure reported twice: one notification
    run_pipeline()

    (request,) = operators.received("/ok")
    message = verified(request)
    assert message["type"] == "delivery.exhausted"
    assert message["data"]["delivery_id"] == delivery.pk
    assert message["data"]["event_id"] == event.pk
    assert message["data"]["event_type"] == "invoice.paid"
    assert message["data"]["endpoint_id"] == endpoint.pk
    assert message["data"]["attempts"] == 1
    assert message["data"]["last_status_code"] == 500
    assert message["data"]["status"] == "failed"


def test_the_operations_endpoints_never_notify_about_themselves(operators, tenant, settings):
    endpoint = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/customer")[0]
    endpoint_disable(endpoint=endpoint, reason="first")
    (ops_endpoint,) = Endpoint.objects.filter(tenant__slug=OPERATIONS_TENANT_SLUG)
    run_pipeline()
    ops_delivery = Delivery.objects.get(tenant__slug=OPERATIONS_TENANT_SLUG)

    endpoint_disable(endpoint=ops_endpoint, reason="failing")
    endpoint_enable(endpoint=ops_endpoint)
    endpoint_state_changed(endpoint=ops_endpoint, event="endpoint.circuit_opened")
    delivery_exhausted(delivery=ops_delivery)

    assert len(ops_events()) == 1


def test_nothing_happens_without_operator_urls(tenant, settings):
    settings.WEBHOOKS_OPERATIONAL_WEBHOOK_URLS = []
    endpoint = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/customer")[0]

    endpoint_disable(endpoint=endpoint, reason="disabled by user")

    assert not Tenant.objects.filter(slug=OPERATIONS_TENANT_SLUG).exists()
    assert Event.objects.count() == 0


def test_the_endpoints_follow_the_setting(operators, tenant, settings):
    endpoint = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/customer")[0]
    endpoint_disable(endpoint=endpoint, reason="one")
    (first,) = Endpoint.objects.filter(tenant__slug=OPERATIONS_TENANT_SLUG)
    assert endpoint_secret_current(endpoint=first) == OPS_SECRET

    new_secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    settings.WEBHOOKS_OPERATIONAL_WEBHOOK_URLS = [operators.url("/ok"), operators.url("/ok2")]
    settings.WEBHOOKS_OPERATIONAL_WEBHOOK_SECRET = new_secret
    endpoint_enable(endpoint=endpoint)

    live = Endpoint.objects.filter(tenant__slug=OPERATIONS_TENANT_SLUG, deleted_at__isnull=True)
    assert sorted(e.url for e in live) == [operators.url("/ok"), operators.url("/ok2")]
    assert {endpoint_secret_current(endpoint=e) for e in live} == {new_secret}

    settings.WEBHOOKS_OPERATIONAL_WEBHOOK_URLS = [operators.url("/ok2")]
    endpoint_disable(endpoint=endpoint, reason="two")
    live = Endpoint.objects.filter(tenant__slug=OPERATIONS_TENANT_SLUG, deleted_at__isnull=True)
    assert [e.url for e in live] == [operators.url("/ok2")]


def test_a_refused_operator_url_does_not_break_the_disable(operators, tenant, settings, caplog):
    settings.WEBHOOKS_OPERATIONAL_WEBHOOK_URLS = ["ftp://127.0.0.1/nope"]
    endpoint = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/customer")[0]

    endpoint_disable(endpoint=endpoint, reason="disabled by user")

    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert ops_events() == []
    assert "operational webhook URL refused" in caplog.text


def test_an_unknown_endpoint_event_is_a_programming_error(tenant):
    endpoint = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/customer")[0]
    with pytest.raises(ValueError, match="endpoint.exploded"):
        endpoint_state_changed(endpoint=endpoint, event="endpoint.exploded")


def test_the_body_is_a_standard_envelope(operators, tenant):
    endpoint = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/customer")[0]
    endpoint_disable(endpoint=endpoint, reason="r")
    (event,) = ops_events()

    body = json.loads(event.body)

    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == "endpoint.disabled"


def test_the_operators_own_ranges_open_to_their_urls_only(
    operators, tenant, invoice_paid, settings
):
    """A private operator URL does not open its range to every tenant."""
    from django.core.exceptions import ValidationError

    customer = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/customer")[0]
    settings.WEBHOOKS_ALLOWED_SUBNETS = []
    settings.WEBHOOKS_OPERATIONAL_ALLOWED_SUBNETS = ["127.0.0.0/8"]

    with pytest.raises(ValidationError, match="loopback"):
        endpoint_create(tenant=tenant, url="http://127.0.0.1:9/another")
    endpoint_disable(endpoint=customer, reason="disabled by user")
    run_pipeline()

    (request,) = operators.received("/ok")
    assert verified(request)["type"] == "endpoint.disabled"
    assert Delivery.objects.get(tenant__slug=OPERATIONS_TENANT_SLUG).status == "succeeded"
