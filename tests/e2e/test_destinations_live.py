"""Destinations through a real worker process: Redis Streams and RabbitMQ, real brokers."""

from __future__ import annotations

import time

import pytest

from deliveries import publish_event
from deliveries.models import Attempt, Delivery
from deliveries.services.sweep import sweep
from endpoints.models import Endpoint
from endpoints.services import endpoint_create
from tests.destinations.brokers import rabbit_for
from tests.workers import start_worker, worker_env

# Long enough to outlast a broker restart (about 15 s here), short enough for a test.
OUTAGE_SCHEDULE = [0.5, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]


@pytest.fixture
def patient_worker(tmp_path, e2e_settings, clean_broker):
    """A worker whose retry schedule outlasts a broker restart (read when it starts)."""
    e2e_settings.WEBHOOKS_RETRY_SCHEDULE = OUTAGE_SCHEDULE
    e2e_settings.WEBHOOKS_CIRCUIT_FAILURE_THRESHOLD = 3
    proc = start_worker(tmp_path, env=worker_env(WEBHOOKS_CIRCUIT_FAILURE_THRESHOLD="3"))
    yield proc
    proc.stop()


pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _wait(predicate, timeout=60.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _all_succeeded(n):
    return Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == n


def test_a_worker_delivers_to_a_redis_stream_and_retries_a_refusal(
    worker, tenant, invoice_paid, redis_stream
):
    endpoint_create(
        tenant=tenant,
        kind="redis",
        destination={"url": redis_stream.url, "stream": redis_stream.name},
        ordered=True,
    )
    first = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(5)]
    assert _wait(lambda: _all_succeeded(5))
    # Redis refuses (a key of another type under the stream's name) ...
    redis_stream.client.delete(redis_stream.name)
    redis_stream.client.set(redis_stream.name, "in the way")
    later = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(5, 8)]
    assert _wait(lambda: Attempt.objects.filter(error__startswith="redis: WRONGTYPE").exists())
    # ... until the key is gone: the retries deliver everything, in publish order.
    redis_stream.client.delete(redis_stream.name)

    def done():
        sweep()
        return _all_succeeded(8)

    assert _wait(done, interval=0.5)
    assert [f["webhook-id"] for _, f in redis_stream.entries()] == [e.pk for e in later]
    assert len(first) == 5


def test_a_worker_delivers_to_rabbitmq(worker, tenant, invoice_paid, rabbit):
    endpoint_create(
        tenant=tenant,
        kind="rabbitmq",
        destination={"url": rabbit.url, "password": "guest", "exchange": rabbit.exchange},
    )
    events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(20)]

    assert _wait(lambda: _all_succeeded(20))
    assert sorted(m.message_id for m in rabbit.messages()) == sorted(e.pk for e in events)
    assert Attempt.objects.filter(response_status=202).count() == 20


def test_a_broker_restart_loses_nothing_and_needs_no_worker_restart(
    rabbit_node, patient_worker, tenant, invoice_paid
):
    broker = rabbit_for(rabbit_node.port)
    broker.setup()  # a durable exchange and queue: they outlive the restart
    endpoint_create(
        tenant=tenant,
        kind="rabbitmq",
        destination={"url": broker.url, "password": "guest", "exchange": broker.exchange},
    )
    before = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(5)]
    assert _wait(lambda: _all_succeeded(5))

    rabbit_node.stop()
    during = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(5, 10)]
    assert _wait(lambda: Attempt.objects.filter(response_status=0).exists())
    rabbit_node.start()

    def done():
        sweep()
        return _all_succeeded(10)

    assert _wait(done, timeout=90, interval=0.5)
    got = sorted(m.message_id for m in broker.messages())
    assert got == sorted(e.pk for e in before + during)
    assert Endpoint.objects.get().enabled


def test_a_destination_that_is_down_opens_its_circuit_and_catches_up(
    rabbit_node, patient_worker, tenant, invoice_paid
):
    broker = rabbit_for(rabbit_node.port)
    broker.setup()
    endpoint, _ = endpoint_create(
        tenant=tenant,
        kind="rabbitmq",
        destination={"url": broker.url, "password": "guest", "exchange": broker.exchange},
    )
    rabbit_node.stop()
    events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(10)]

    assert _wait(lambda: Endpoint.objects.get(pk=endpoint.pk).circuit_state == "open")
    rabbit_node.start()

    def done():
        sweep()
        return _all_succeeded(10)

    assert _wait(done, timeout=90, interval=0.5)
    assert Endpoint.objects.get(pk=endpoint.pk).circuit_state == "closed"
    assert sorted(m.message_id for m in broker.messages()) == sorted(e.pk for e in events)


def test_a_worker_delivers_to_sqs_standard_and_fifo(worker, tenant, invoice_paid, moto_server):
    standard = moto_server.sqs_queue()
    fifo = moto_server.sqs_queue(fifo=True)
    common = {
        "region": moto_server.region,
        "endpoint_url": moto_server.url,
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }
    endpoint_create(tenant=tenant, kind="sqs", destination={"queue_url": standard, **common})
    endpoint_create(
        tenant=tenant, kind="sqs", ordered=True, destination={"queue_url": fifo, **common}
    )
    events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(15)]

    assert _wait(lambda: _all_succeeded(30))

    def ids(queue_url):
        return [
            m["MessageAttributes"]["webhook-id"]["StringValue"]
            for m in moto_server.sqs_messages(queue_url)
        ]

    assert sorted(ids(standard)) == sorted(e.pk for e in events)
    assert ids(fifo) == [e.pk for e in events]  # in publish order


def test_a_worker_delivers_to_sns_and_s3(worker, tenant, invoice_paid, moto_server):
    from tests.destinations.brokers import sns_topic_to_queue

    topic, queue_url = sns_topic_to_queue(moto_server)
    bucket = f"test-e2e-{tenant.pk}-{int(time.time() * 1000)}"
    moto_server.client("s3").create_bucket(Bucket=bucket)
    common = {
        "region": moto_server.region,
        "endpoint_url": moto_server.url,
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }
    endpoint_create(tenant=tenant, kind="sns", destination={"topic_arn": topic, **common})
    endpoint_create(tenant=tenant, kind="s3", destination={"bucket": bucket, **common})
    events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(12)]

    assert _wait(lambda: _all_succeeded(24))
    sent = [
        m["MessageAttributes"]["webhook-id"]["StringValue"]
        for m in moto_server.sqs_messages(queue_url)
    ]
    assert sorted(sent) == sorted(e.pk for e in events)
    listed = moto_server.client("s3").list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in listed) == sorted(
        f"{e.pk}.json" for e in events
    )


def test_a_worker_delivers_to_kinesis_and_eventbridge(worker, tenant, invoice_paid, moto_server):
    import json
    import uuid

    from tests.destinations.test_eventbridge import _bus_to_queue
    from tests.destinations.test_kinesis import _records

    stream = f"test-{uuid.uuid4().hex[:10]}"
    moto_server.client("kinesis").create_stream(StreamName=stream, ShardCount=1)
    bus, queue_url = _bus_to_queue(moto_server, "com.example.e2e")
    common = {
        "region": moto_server.region,
        "endpoint_url": moto_server.url,
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }
    endpoint_create(
        tenant=tenant, kind="kinesis", ordered=True, destination={"stream_name": stream, **common}
    )
    endpoint_create(
        tenant=tenant,
        kind="eventbridge",
        destination={"event_bus": bus, "source": "com.example.e2e", **common},
    )
    events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(8)]

    assert _wait(lambda: _all_succeeded(16))
    in_stream = [
        json.loads(r["Data"])["headers"]["webhook-id"] for r in _records(moto_server, stream)
    ]
    assert in_stream == [e.pk for e in events]  # ordered: in publish order
    on_bus = [
        json.loads(m["Body"])["detail"]["headers"]["webhook-id"]
        for m in moto_server.sqs_messages(queue_url)
    ]
    assert sorted(on_bus) == sorted(e.pk for e in events)
