"""Amazon Kinesis destinations through the engine, against moto's standalone server."""

from __future__ import annotations

import json
import uuid

import pytest
from standardwebhooks.webhooks import Webhook

from deliveries import publish_event
from deliveries.models import Attempt, Delivery
from deliveries.services.fanout import event_fan_out
from endpoints.services import endpoint_create
from tests.engine import deliver_due

pytestmark = pytest.mark.django_db


def _records(moto_server, name):
    client = moto_server.client("kinesis")
    shards = client.describe_stream(StreamName=name)["StreamDescription"]["Shards"]
    out = []
    for shard in shards:
        iterator = client.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        out.extend(client.get_records(ShardIterator=iterator, Limit=1000)["Records"])
    return out


def _destination(moto_server, name):
    return {
        "stream_name": name,
        "region": moto_server.region,
        "endpoint_url": moto_server.url,
        "access_key_id": "testing",
        "secret_access_key": "testing-secret-key",
    }


def test_each_event_is_a_record_with_the_body_and_its_signature_in_order(
    tenant, invoice_paid, moto_server
):
    name = f"test-{uuid.uuid4().hex[:10]}"
    moto_server.client("kinesis").create_stream(StreamName=name, ShardCount=1)
    endpoint, secret = endpoint_create(
        tenant=tenant, kind="kinesis", ordered=True, destination=_destination(moto_server, name)
    )
    events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(4)]
    for event in events:
        event_fan_out(event_id=event.pk)

    deliver_due()

    records = _records(moto_server, name)
    envelopes = [json.loads(r["Data"]) for r in records]
    assert [e["headers"]["webhook-id"] for e in envelopes] == [e.pk for e in events]
    for envelope in envelopes:
        assert Webhook(secret).verify(envelope["body"], envelope["headers"])["type"] == (
            "invoice.paid"
        )
    assert {r["PartitionKey"] for r in records} == {str(tenant.pk)}
    attempts = list(Attempt.objects.order_by("id"))
    assert [a.response_headers["sequence-number"] for a in attempts] == [
        r["SequenceNumber"] for r in records
    ]


def test_a_missing_stream_is_a_failed_try_with_its_code(tenant, invoice_paid, moto_server):
    endpoint_create(
        tenant=tenant, kind="kinesis", destination=_destination(moto_server, "no-such-stream")
    )
    event = publish_event(tenant, "invoice.paid", {})
    event_fan_out(event_id=event.pk)

    deliver_due()

    attempt = Attempt.objects.get()
    assert attempt.response_headers["error-code"] == "ResourceNotFoundException"
    assert Delivery.objects.get().status == Delivery.Status.PENDING
