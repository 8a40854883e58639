"""Amazon SQS destinations through the engine, against moto's standalone server on 127.0.0.1."""

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


def _options(moto_server, queue_url, **more):
    return {
        "queue_url": queue_url,
        "region": moto_server.region,
        "endpoint_url": moto_server.url,
        "access_key_id": "testing",
        "secret_access_key": "testing-secret-key",
        **more,
    }


def _publish(tenant, n=1):
    events = [publish_event(tenant, "invoice.paid", {"invoice_id": f"in_{i}"}) for i in range(n)]
    for event in events:
        event_fan_out(event_id=event.pk)
    return events


def _attributes(message):
    return {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}


def test_each_event_is_a_message_with_the_webhook_body_and_signature(
    tenant, invoice_paid, moto_server
):
    queue_url = moto_server.sqs_queue()
    endpoint, secret = endpoint_create(
        tenant=tenant, kind="sqs", destination=_options(moto_server, queue_url)
    )
    events = _publish(tenant, 12)  # more than one batch of 10

    deliver_due()

    messages = moto_server.sqs_messages(queue_url)
    assert sorted(_attributes(m)["webhook-id"] for m in messages) == sorted(e.pk for e in events)
    for message in messages:
        payload = Webhook(secret).verify(message["Body"], _attributes(message))
        assert payload["type"] == "invoice.paid"
    attempts = list(Attempt.objects.all())
    assert {a.response_status for a in attempts} == {202}
    assert {a.response_headers["message-id"] for a in attempts} == {
        m["MessageId"] for m in messages
    }
    assert endpoint.url == queue_url
    stored = Endpoint.objects.get(pk=endpoint.pk).destination
    assert stored["secret_access_key"].startswith("sealed:v1:")


def test_a_fifo_queue_gets_group_and_deduplication_ids_and_keeps_the_order(
    tenant, invoice_paid, moto_server
):
    queue_url = moto_server.sqs_queue(fifo=True)
    endpoint_create(
        tenant=tenant,
        kind="sqs",
        ordered=True,
        destination=_options(moto_server, queue_url, message_group_id="billing-{tenant}"),
    )
    events = _publish(tenant, 3)

    deliver_due()

    messages = moto_server.sqs_messages(queue_url)
    assert [_attributes(m)["webhook-id"] for m in messages] == [e.pk for e in events]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {f"billing-{tenant.pk}"}
    assert [m["Attributes"]["MessageDeduplicationId"] for m in messages] == [e.pk for e in events]
    # SQS's sequence number of each (moto's are not increasing, as AWS's are: only kept here).
    assert all(a.response_headers["sequence-number"].isdigit() for a in Attempt.objects.all())


def test_a_missing_queue_is_a_failed_try_with_the_error_code_and_a_replay_succeeds(
    tenant, invoice_paid, moto_server
):
    queue_url = moto_server.sqs_queue()
    moto_server.client("sqs").delete_queue(QueueUrl=queue_url)
    endpoint_create(tenant=tenant, kind="sqs", destination=_options(moto_server, queue_url))
    (event,) = _publish(tenant)

    deliver_due()

    delivery = Delivery.objects.get(event=event)
    attempt = Attempt.objects.get()
    assert delivery.status == Delivery.Status.PENDING
    assert "NonExistentQueue" in attempt.response_headers["error-code"]
    assert "testing-secret-key" not in attempt.error + attempt.response_body

    moto_server.client("sqs").create_queue(QueueName=queue_url.rsplit("/", 1)[1])
    delivery_replay(delivery=delivery)
    deliver_due()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert len(moto_server.sqs_messages(queue_url)) == 1


def test_a_blocked_endpoint_url_is_refused_at_save_and_on_every_send(
    tenant, invoice_paid, moto_server, settings
):
    queue_url = moto_server.sqs_queue()
    endpoint_create(tenant=tenant, kind="sqs", destination=_options(moto_server, queue_url))
    settings.WEBHOOKS_ALLOWED_SUBNETS = []
    _publish(tenant)

    deliver_due()

    assert Attempt.objects.get().error.startswith("blocked: ")
    assert moto_server.sqs_messages(queue_url) == []
    with pytest.raises(ValidationError) as caught:
        endpoint_create(tenant=tenant, kind="sqs", destination=_options(moto_server, queue_url))
    assert "loopback" in caught.value.message_dict["destination.url"][0]


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"region": "us-east-1"}, "destination.queue_url", "required"),
        ({"queue_url": "https://sqs.x/1/q"}, "destination.region", "required"),
        (
            {"queue_url": "https://sqs.x/q", "region": "r"},
            "destination.queue_url",
            "the queue's URL",
        ),
        (
            {"queue_url": "https://sqs.x/1/q", "region": "r", "access_key_id": "AKIA"},
            "destination.secret_access_key",
            "both",
        ),
        (
            {"queue_url": "https://sqs.x/1/q", "region": "r", "endpoint_url": "ftp://x"},
            "destination.endpoint_url",
            "http(s)",
        ),
        (
            {"queue_url": "https://sqs.x/1/q.fifo", "region": "r", "message_group_id": "{x}"},
            "destination.message_group_id",
            "{x}",
        ),
    ],
)
def test_a_bad_configuration_names_the_option(tenant, options, field, message):
    with pytest.raises(ValidationError) as caught:
        endpoint_create(tenant=tenant, kind="sqs", destination=options)

    errors = caught.value.message_dict
    assert list(errors) == [field]
    assert message in errors[field][0]


def test_the_attempt_log_keeps_what_sqs_answered(tenant, invoice_paid, moto_server):
    queue_url = moto_server.sqs_queue()
    endpoint_create(tenant=tenant, kind="sqs", destination=_options(moto_server, queue_url))
    _publish(tenant)

    deliver_due()

    attempt = Attempt.objects.get()
    assert json.loads(attempt.response_body)["message-id"] == attempt.response_headers["message-id"]
