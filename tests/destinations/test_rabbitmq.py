"""RabbitMQ destinations through the engine, against the real broker on 127.0.0.1:5672."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from standardwebhooks.webhooks import Webhook

from deliveries import publish_event
from deliveries.models import Attempt, Delivery
from deliveries.services.fanout import event_fan_out
from deliveries.services.lifecycle import delivery_replay
from endpoints.models import Endpoint
from endpoints.services import endpoint_create
from tests.engine import deliver_due

pytestmark = pytest.mark.django_db


def _publish(tenant, n=1, type_="invoice.paid"):
    events = [publish_event(tenant, type_, {"invoice_id": f"in_{i}"}) for i in range(n)]
    for event in events:
        event_fan_out(event_id=event.pk)
    return events


def _headers(message):
    return {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in message.headers.items()}


def test_each_event_is_a_confirmed_message_with_the_webhook_body_and_signature(
    tenant, invoice_paid, rabbit
):
    endpoint, secret = endpoint_create(
        tenant=tenant,
        kind="rabbitmq",
        destination={"url": rabbit.url, "password": "guest", "exchange": rabbit.exchange},
    )
    events = _publish(tenant, 3)

    deliver_due()

    messages = rabbit.messages()
    assert sorted(m.message_id for m in messages) == sorted(e.pk for e in events)
    for message in messages:
        assert message.routing_key == "invoice.paid"
        assert message.content_type == "application/json"
        assert message.delivery_mode == 2
        payload = Webhook(secret).verify(message.body, _headers(message))
        assert payload["type"] == "invoice.paid"
    attempts = Attempt.objects.all()
    assert [a.response_status for a in attempts] == [202, 202, 202]
    assert {a.response_headers["message-id"] for a in attempts} == {e.pk for e in events}
    assert all(int(a.response_headers["sequence-number"]) >= 1 for a in attempts)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"succeeded"}
    assert endpoint.url == f"{rabbit.url}#{rabbit.exchange}"


def test_the_routing_key_template_is_filled_in_per_event(tenant, invoice_paid, rabbit):
    endpoint_create(
        tenant=tenant,
        kind="rabbitmq",
        destination={
            "url": rabbit.url,
            "password": "guest",
            "exchange": rabbit.exchange,
            "routing_key": "webhooks.{event_type}.{event_id}",
        },
    )
    (event,) = _publish(tenant)

    deliver_due()

    (message,) = rabbit.messages()
    assert message.routing_key == f"webhooks.invoice.paid.{event.pk}"


def test_an_unroutable_message_fails_and_a_replay_after_binding_succeeds(
    tenant, invoice_paid, rabbit
):
    endpoint_create(
        tenant=tenant,
        kind="rabbitmq",
        destination={
            "url": rabbit.url,
            "password": "guest",
            "exchange": "",  # the default exchange: the routing key names a queue
            "routing_key": f"{rabbit.queue}-missing",
        },
    )
    (event,) = _publish(tenant)

    deliver_due()

    delivery = Delivery.objects.get(event=event)
    attempt = Attempt.objects.get(delivery=delivery)
    assert delivery.status == Delivery.Status.PENDING
    assert attempt.response_headers["error-code"] == "NO_ROUTE"
    assert attempt.error == "rabbitmq: message returned unroutable"

    endpoint = Endpoint.objects.get()
    from deliveries.services.endpoint_lifecycle import endpoint_update

    endpoint_update(
        endpoint=endpoint,
        destination={"url": rabbit.url, "exchange": "", "routing_key": rabbit.queue},
    )
    delivery_replay(delivery=delivery)
    deliver_due()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert [m.message_id for m in rabbit.messages()] == [event.pk]


def test_a_missing_exchange_fails_with_not_found_until_it_exists(tenant, invoice_paid, rabbit):
    rabbit.drop_exchange()
    endpoint_create(
        tenant=tenant,
        kind="rabbitmq",
        destination={"url": rabbit.url, "password": "guest", "exchange": rabbit.exchange},
    )
    (event,) = _publish(tenant)

    deliver_due()

    delivery = Delivery.objects.get(event=event)
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.response_headers["error-code"] == "NOT_FOUND"

    rabbit.setup()
    delivery_replay(delivery=delivery)
    deliver_due()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED


def test_wrong_credentials_fail_the_try_without_quoting_the_password(tenant, invoice_paid, rabbit):
    endpoint, _ = endpoint_create(
        tenant=tenant,
        kind="rabbitmq",
        destination={
            "url": rabbit.url,
            "password": "not-the-password-42",
            "exchange": rabbit.exchange,
        },
    )
    stored = Endpoint.objects.get(pk=endpoint.pk).destination
    assert stored["password"].startswith("sealed:v1:")
    _publish(tenant)

    deliver_due()

    attempt = Attempt.objects.get()
    assert attempt.response_status == 0
    assert attempt.error.startswith("rabbitmq: ")
    assert "not-the-password-42" not in attempt.error + attempt.response_body
    assert "not-the-password-42" not in json.dumps(attempt.request_headers)


def test_a_stopped_broker_is_a_failed_try(tenant, invoice_paid, rabbit):
    from tests.workers import free_port

    endpoint_create(
        tenant=tenant,
        kind="rabbitmq",
        destination={"url": f"amqp://guest@127.0.0.1:{free_port()}/", "password": "guest"},
    )
    _publish(tenant)

    deliver_due()

    attempt = Attempt.objects.get()
    assert attempt.error == "rabbitmq: connection refused"


@pytest.mark.parametrize(
    ("destination", "field", "message"),
    [
        ({"url": "redis://127.0.0.1/"}, "destination.url", "scheme must be amqp"),
        ({"url": "amqp://guest:guest@127.0.0.1/"}, "destination.url", "password option"),
        ({"url": "amqp://127.0.0.1/", "routing_key": "{x.y}"}, "destination.routing_key", "only"),
        ({"url": "amqp://127.0.0.1/", "persistent": "yes"}, "destination.persistent", "true or"),
        ({"url": "amqp://127.0.0.1/", "password": 5}, "destination.password", "string"),
    ],
)
def test_a_bad_configuration_names_the_option(tenant, destination, field, message):
    with pytest.raises(ValidationError) as caught:
        endpoint_create(tenant=tenant, kind="rabbitmq", destination=destination)

    errors = caught.value.message_dict
    assert list(errors) == [field]
    assert message in errors[field][0]
