"""Redis Streams destinations through the engine, against the real Redis on 127.0.0.1."""

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


def _publish(tenant, n=1):
    events = [publish_event(tenant, "invoice.paid", {"invoice_id": f"in_{i}"}) for i in range(n)]
    for event in events:
        event_fan_out(event_id=event.pk)
    return events


def test_each_event_is_an_entry_with_the_webhook_body_and_signature(
    tenant, invoice_paid, redis_stream
):
    endpoint, secret = endpoint_create(
        tenant=tenant,
        kind="redis",
        destination={"url": redis_stream.url, "stream": redis_stream.name, "maxlen": 1000},
    )
    events = _publish(tenant, 3)

    deliver_due()

    entries = redis_stream.entries()
    assert [fields["webhook-id"] for _, fields in entries] == [e.pk for e in events]
    for entry_id, fields in entries:
        headers = {k: v for k, v in fields.items() if k.startswith("webhook-")}
        payload = Webhook(secret).verify(fields["body"], headers)
        assert payload["type"] == "invoice.paid"
        attempt = Attempt.objects.get(delivery__event_id=fields["webhook-id"])
        assert attempt.response_status == 202
        assert attempt.response_headers["message-id"] == entry_id
        assert json.loads(attempt.response_body)["message-id"] == entry_id
        assert attempt.request_url == redis_stream.url
    assert set(Delivery.objects.values_list("status", flat=True)) == {"succeeded"}


def test_maxlen_caps_the_stream(tenant, invoice_paid, redis_stream):
    endpoint_create(
        tenant=tenant,
        kind="redis",
        destination={
            "url": redis_stream.url,
            "stream": redis_stream.name,
            "maxlen": 2,
            "approximate": False,
        },
    )
    events = _publish(tenant, 4)

    deliver_due()

    assert Delivery.objects.filter(status="succeeded").count() == 4
    kept = {f["webhook-id"] for _, f in redis_stream.entries()}
    assert len(kept) == 2
    assert kept <= {e.pk for e in events}


def test_a_refusal_is_a_failed_try_with_the_error_code_and_a_replay_succeeds(
    tenant, invoice_paid, redis_stream
):
    # A key of another type under the stream's name: Redis answers WRONGTYPE.
    redis_stream.client.set(redis_stream.name, "not a stream")
    endpoint_create(
        tenant=tenant,
        kind="redis",
        destination={"url": redis_stream.url, "stream": redis_stream.name},
    )
    (event,) = _publish(tenant)

    deliver_due()

    delivery = Delivery.objects.get(event=event)
    attempt = Attempt.objects.get(delivery=delivery)
    assert delivery.status == Delivery.Status.PENDING  # retried on the schedule
    assert attempt.response_status == 0
    assert attempt.response_headers["error-code"] == "WRONGTYPE"
    assert attempt.error.startswith("redis: WRONGTYPE")

    redis_stream.client.delete(redis_stream.name)
    delivery_replay(delivery=delivery)
    deliver_due()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert [f["webhook-id"] for _, f in redis_stream.entries()] == [event.pk]


def test_the_password_is_sealed_never_shown_and_used_to_send(tenant, invoice_paid, redis_stream):
    redis_stream.client.execute_command(
        "ACL", "SETUSER", "dest-test-user", "on", ">s3cret-pass", "~*", "+@all"
    )
    try:
        endpoint, _ = endpoint_create(
            tenant=tenant,
            kind="redis",
            destination={
                "url": redis_stream.url.replace("redis://", "redis://dest-test-user@"),
                "password": "s3cret-pass",
                "stream": redis_stream.name,
            },
        )
        stored = Endpoint.objects.get(pk=endpoint.pk).destination
        assert stored["password"].startswith("sealed:v1:")
        assert "s3cret-pass" not in json.dumps(stored)
        assert "s3cret-pass" not in endpoint.url
        _publish(tenant)

        deliver_due()

        assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED
        assert len(redis_stream.entries()) == 1
    finally:
        redis_stream.client.execute_command("ACL", "DELUSER", "dest-test-user")


def test_a_wrong_password_fails_the_try_without_quoting_it(tenant, invoice_paid, redis_stream):
    endpoint_create(
        tenant=tenant,
        kind="redis",
        destination={
            "url": redis_stream.url.replace("redis://", "redis://nobody-here@"),
            "password": "wrong-pass-xyz",
            "stream": redis_stream.name,
        },
    )
    _publish(tenant)

    deliver_due()

    attempt = Attempt.objects.get()
    assert attempt.response_status == 0
    assert attempt.error.startswith("redis: ")
    assert "wrong-pass-xyz" not in attempt.error + attempt.response_body


@pytest.mark.parametrize(
    ("destination", "field", "message"),
    [
        ({"stream": "s"}, "destination.url", "This option is required."),
        ({"url": "http://127.0.0.1/", "stream": "s"}, "destination.url", "scheme must be redis"),
        ({"url": "redis://u:pw@127.0.0.1/0", "stream": "s"}, "destination.url", "password"),
        ({"url": "redis://127.0.0.1/x", "stream": "s"}, "destination.url", "database number"),
        ({"url": "redis://127.0.0.1/0"}, "destination.stream", "required"),
        ({"url": "redis://127.0.0.1/0", "stream": "{nope}"}, "destination.stream", "{nope}"),
        ({"url": "redis://127.0.0.1/0", "stream": "s", "maxlen": 0}, "destination.maxlen", "1"),
        (
            {"url": "redis://127.0.0.1/0", "stream": "s", "maxlen": "9"},
            "destination.maxlen",
            "whole",
        ),
        ({"url": "redis://127.0.0.1/0", "stream": "s", "bogus": 1}, "destination.bogus", "bogus"),
    ],
)
def test_a_bad_configuration_names_the_option(tenant, destination, field, message):
    with pytest.raises(ValidationError) as caught:
        endpoint_create(tenant=tenant, kind="redis", destination=destination)

    errors = caught.value.message_dict
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert not Endpoint.objects.exists()


def test_a_blocked_address_is_refused_at_save(tenant, settings):
    settings.WEBHOOKS_ALLOWED_SUBNETS = []

    with pytest.raises(ValidationError) as caught:
        endpoint_create(
            tenant=tenant, kind="redis", destination={"url": "redis://127.0.0.1/0", "stream": "s"}
        )

    assert "loopback" in caught.value.message_dict["destination.url"][0]


def test_a_blocked_address_is_refused_on_every_send(tenant, invoice_paid, redis_stream, settings):
    endpoint_create(
        tenant=tenant,
        kind="redis",
        destination={"url": redis_stream.url, "stream": redis_stream.name},
    )
    settings.WEBHOOKS_ALLOWED_SUBNETS = []
    _publish(tenant)

    deliver_due()

    attempt = Attempt.objects.get()
    assert attempt.error.startswith("blocked: ")
    assert redis_stream.entries() == []
