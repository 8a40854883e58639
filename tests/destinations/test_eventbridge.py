"""Amazon EventBridge destinations through the engine, against moto's standalone server: a rule
on the bus forwards the events to an SQS queue, where the test reads them."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.exceptions import ValidationError
from standardwebhooks.webhooks import Webhook

from deliveries import publish_event
from deliveries.models import Attempt
from deliveries.services.fanout import event_fan_out
from endpoints.services import endpoint_create
from tests.engine import deliver_due

pytestmark = pytest.mark.django_db


def _bus_to_queue(moto_server, source):
    bus = f"test-{uuid.uuid4().hex[:10]}"
    events = moto_server.client("events")
    events.create_event_bus(Name=bus)
    queue_url = moto_server.sqs_queue()
    queue_arn = moto_server.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    events.put_rule(Name=bus, EventBusName=bus, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=bus, EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    return bus, queue_url


def test_each_event_goes_on_the_bus_with_its_type_and_signature(tenant, invoice_paid, moto_server):
    bus, queue_url = _bus_to_queue(moto_server, "com.example.webhooks")
    endpoint, secret = endpoint_create(
        tenant=tenant,
        kind="eventbridge",
        destination={
            "event_bus": bus,
            "source": "com.example.webhooks",
            "region": moto_server.region,
            "endpoint_url": moto_server.url,
            "access_key_id": "testing",
            "secret_access_key": "testing-secret-key",
        },
    )
    published = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(3)]
    for event in published:
        event_fan_out(event_id=event.pk)

    deliver_due()

    received = [json.loads(m["Body"]) for m in moto_server.sqs_messages(queue_url)]
    assert {r["detail-type"] for r in received} == {"invoice.paid"}
    details = [r["detail"] for r in received]
    assert sorted(d["headers"]["webhook-id"] for d in details) == sorted(e.pk for e in published)
    for detail in details:
        assert Webhook(secret).verify(detail["body"], detail["headers"])["type"] == "invoice.paid"
    assert {a.response_status for a in Attempt.objects.all()} == {202}
    assert sorted(a.response_headers["message-id"] for a in Attempt.objects.all()) == sorted(
        r["id"] for r in received
    )


def test_a_reserved_source_is_refused(tenant):
    with pytest.raises(ValidationError) as caught:
        endpoint_create(
            tenant=tenant, kind="eventbridge", destination={"source": "aws.s3", "region": "r"}
        )

    assert "reserved" in caught.value.message_dict["destination.source"][0]
