"""Amazon SNS and S3 destinations through the engine, against moto's standalone server."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from deliveries import publish_event
from deliveries.models import Attempt, Delivery
from deliveries.services.fanout import event_fan_out
from deliveries.services.lifecycle import delivery_replay
from endpoints.services import endpoint_create
from tests.destinations.brokers import sns_topic_to_queue
from tests.engine import deliver_due

pytestmark = pytest.mark.django_db


def _aws(moto_server, **more):
    return {
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


def test_sns_publishes_the_webhook_body_with_its_signature_as_attributes(
    tenant, invoice_paid, moto_server
):
    topic, queue_url = sns_topic_to_queue(moto_server)
    endpoint, secret = endpoint_create(
        tenant=tenant, kind="sns", destination=_aws(moto_server, topic_arn=topic)
    )
    events = _publish(tenant, 11)

    deliver_due()

    messages = moto_server.sqs_messages(queue_url)
    attributes = [
        {k: v["StringValue"] for k, v in m["MessageAttributes"].items()} for m in messages
    ]
    assert sorted(a["webhook-id"] for a in attributes) == sorted(e.pk for e in events)
    for message, attrs in zip(messages, attributes, strict=True):
        assert Webhook(secret).verify(message["Body"], attrs)["type"] == "invoice.paid"
    assert {a.response_status for a in Attempt.objects.all()} == {202}
    assert all(a.response_headers["message-id"] for a in Attempt.objects.all())
    assert endpoint.url == topic


def test_sns_refusal_is_a_failed_try_with_its_code(tenant, invoice_paid, moto_server):
    topic = f"arn:aws:sns:{moto_server.region}:123456789012:no-such-topic"
    endpoint_create(tenant=tenant, kind="sns", destination=_aws(moto_server, topic_arn=topic))
    _publish(tenant)

    deliver_due()

    attempt = Attempt.objects.get()
    assert attempt.response_status == 0
    assert attempt.response_headers["error-code"] == "NotFound"
    assert Delivery.objects.get().status == Delivery.Status.PENDING


def test_s3_writes_one_object_per_event_at_the_key_template(tenant, invoice_paid, moto_server):
    bucket = f"test-{tenant.pk}-{timezone.now().strftime('%H%M%S%f')}"
    moto_server.client("s3").create_bucket(Bucket=bucket)
    endpoint, secret = endpoint_create(
        tenant=tenant,
        kind="s3",
        destination=_aws(moto_server, bucket=bucket, key="in/{date}/{event_type}/{event_id}.json"),
    )
    events = _publish(tenant, 3)

    deliver_due()

    s3 = moto_server.client("s3")
    for event in events:
        key = f"in/{event.created_at.strftime('%Y-%m-%d')}/invoice.paid/{event.pk}.json"
        stored = s3.get_object(Bucket=bucket, Key=key)
        body = stored["Body"].read()
        assert stored["Metadata"]["webhook-id"] == event.pk
        assert Webhook(secret).verify(body, stored["Metadata"])["type"] == "invoice.paid"
        attempt = Attempt.objects.get(delivery__event=event)
        assert attempt.response_headers["message-id"] == key
    assert endpoint.url == f"s3://{bucket}/in/{{date}}/{{event_type}}/{{event_id}}.json"


def test_s3_missing_bucket_fails_then_a_replay_writes_the_object(tenant, invoice_paid, moto_server):
    bucket = f"test-missing-{timezone.now().strftime('%H%M%S%f')}"
    endpoint_create(tenant=tenant, kind="s3", destination=_aws(moto_server, bucket=bucket))
    (event,) = _publish(tenant)

    deliver_due()

    attempt = Attempt.objects.get()
    assert attempt.response_headers["error-code"] == "NoSuchBucket"
    moto_server.client("s3").create_bucket(Bucket=bucket)
    delivery = Delivery.objects.get()
    delivery_replay(delivery=delivery)
    deliver_due()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    listed = moto_server.client("s3").list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"].rsplit("/", 1)[1] for o in listed] == [f"{event.pk}.json"]


@pytest.mark.parametrize(
    ("kind", "options", "field", "message"),
    [
        ("sns", {"topic_arn": "topic", "region": "r"}, "destination.topic_arn", "ARN"),
        ("s3", {"bucket": "b", "region": "r"}, "destination.bucket", "bucket name"),
        (
            "s3",
            {"bucket": "bucket", "region": "r", "key": "a/{date}"},
            "destination.key",
            "event_id",
        ),
        ("s3", {"bucket": "bucket", "region": "r", "key": "{nope}"}, "destination.key", "{nope}"),
    ],
)
def test_a_bad_configuration_names_the_option(tenant, kind, options, field, message):
    with pytest.raises(ValidationError) as caught:
        endpoint_create(tenant=tenant, kind=kind, destination=options)

    errors = caught.value.message_dict
    assert list(errors) == [field]
    assert message in errors[field][0]
