"""Destinations benchmark: ``python -m bench.destinations [--events N] [--rounds R]``.

N events to a RabbitMQ destination (the broker on 127.0.0.1:5672) and to an SQS destination
(moto's standalone server, started here on 127.0.0.1), each delivered by a real worker process
on PostgreSQL and Redis, against a loop of the same client library sending the same number of
messages one at a time (aio-pika with publisher confirms; boto3 ``send_message``), measured in
the same run, A/B interleaved. Figures are ratios to that loop; the machine is shared and noisy.
Writes ``bench/results/destinations.json``. Needs BENCH_DB_NAME and BENCH_VAR_DIR as the other
benchmarks do; the broker is ``BENCH_BROKER_URL`` (default redis db 13).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench import infra

BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
BODY = json.dumps({"type": "invoice.paid", "timestamp": "x", "data": {"invoice_id": "in_1"}})


def _loop_rabbit(n: int, exchange: str) -> float:
    """Messages a second of a loop publishing one at a time, each awaiting its confirm."""
    import aio_pika

    async def go() -> float:
        conn = await aio_pika.connect(host="127.0.0.1", port=5672)
        async with conn:
            channel = await conn.channel(publisher_confirms=True)
            ex = await channel.get_exchange(exchange)
            t0 = time.perf_counter()
            for i in range(n):
                await ex.publish(
                    aio_pika.Message(BODY.encode(), headers={"webhook-id": str(i)}),
                    routing_key="invoice.paid",
                )
            return n / (time.perf_counter() - t0)

    return asyncio.run(go())


def _loop_sqs(n: int, client: Any, queue_url: str) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        client.send_message(
            QueueUrl=queue_url,
            MessageBody=BODY,
            MessageAttributes={"webhook-id": {"DataType": "String", "StringValue": str(i)}},
        )
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    os.environ["CELERY_BROKER_URL"] = BROKER
    infra.VAR_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.update(infra.platform_env(CELERY_BROKER_URL=BROKER))
    import django

    django.setup()
    infra.database_prepare()
    import aio_pika
    import boto3
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    logs = infra.VAR_DIR / "destinations-logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = infra.free_port()
    moto = infra.spawn(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log=logs / "moto.log",
        env=dict(os.environ),
    )
    workers = None
    tag = uuid.uuid4().hex[:8]
    exchange, queue = f"bench-{tag}", f"bench-{tag}"

    async def rabbit(action: str) -> None:
        conn = await aio_pika.connect(host="127.0.0.1", port=5672)
        async with conn:
            channel = await conn.channel()
            if action == "setup":
                ex = await channel.declare_exchange(exchange, "topic")
                q = await channel.declare_queue(queue, arguments={"x-max-length": 1000})
                await q.bind(ex, "#")
            else:
                await channel.queue_delete(queue)
                await channel.exchange_delete(exchange)

    try:
        for _ in range(100):
            try:
                sqs = boto3.client(
                    "sqs",
                    endpoint_url=f"http://127.0.0.1:{port}",
                    region_name="us-east-1",
                    aws_access_key_id="bench",
                    aws_secret_access_key="bench",  # noqa: S106  (moto's)
                )
                queue_url = sqs.create_queue(QueueName=f"bench-{tag}")["QueueUrl"]
                break
            except Exception:  # noqa: BLE001  moto still starting
                time.sleep(0.2)
        asyncio.run(rabbit("setup"))
        from endpoints.services import endpoint_create, event_type_create, tenant_create

        event_type_create(name="invoice.paid")
        common = {
            "region": "us-east-1",
            "endpoint_url": f"http://127.0.0.1:{port}",
            "access_key_id": "bench",
            "secret_access_key": "bench",
        }
        targets = {}
        for kind, destination in (
            (
                "rabbitmq",
                {"url": "amqp://guest@127.0.0.1:5672/", "password": "guest", "exchange": exchange},
            ),
            ("sqs", {"queue_url": queue_url, **common}),
        ):
            tenant = tenant_create(slug=f"bench-{kind}-{tag}", name=kind)
            endpoint, _ = endpoint_create(tenant=tenant, kind=kind, destination=destination)
            targets[kind] = (tenant, endpoint.pk)
        workers = infra.Workers(
            logs, count=1, concurrency=8, extra_env={"CELERY_BROKER_URL": BROKER}
        )
        n = args.events
        runs: dict[str, list[dict[str, float]]] = {"rabbitmq": [], "sqs": []}
        for _ in range(args.rounds):
            for kind in ("rabbitmq", "sqs"):
                loop = (
                    _loop_rabbit(n, exchange)
                    if kind == "rabbitmq"
                    else _loop_sqs(n, sqs, queue_url)
                )
                tenant, endpoint_id = targets[kind]
                rate = _timed(tenant, endpoint_id, n, _deliver_count(endpoint_id), args.timeout)
                runs[kind].append(
                    {
                        "loop_per_s": round(loop, 1),
                        "platform_per_s": round(rate, 1),
                        "ratio": round(rate / loop, 2),
                    }
                )
                print(
                    f"{kind}: loop {loop:.0f}/s, platform {rate:.0f}/s, {rate / loop:.2f}x",
                    flush=True,
                )
        out = Path(__file__).resolve().parent / "results" / "destinations.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps({"events": n, "runs": runs}, indent=2) + "\n")
    finally:
        if workers is not None:
            workers.stop()
        infra.stop(moto)
        with contextlib.suppress(Exception):  # the broker may be gone
            asyncio.run(rabbit("teardown"))


def _deliver_count(endpoint_id: str) -> int:
    from deliveries.models import Delivery

    return Delivery.objects.filter(endpoint_id=endpoint_id, status="succeeded").count()


def _timed(tenant: Any, endpoint_id: str, n: int, before: int, timeout: float) -> float:
    """Deliveries a second from the first publish until all ``n`` succeeded."""
    from deliveries import publish_events

    t0 = time.perf_counter()
    for start in range(0, n, 1000):
        publish_events(
            tenant,
            [
                {"event_type": "invoice.paid", "payload": {"n": i}}
                for i in range(start, min(n, start + 1000))
            ],
        )
    deadline = time.monotonic() + timeout
    done = before
    while time.monotonic() < deadline:
        done = _deliver_count(endpoint_id)
        if done >= before + n:
            return n / (time.perf_counter() - t0)
        time.sleep(0.2)
    raise RuntimeError(f"only {done - before} of {n} deliveries succeeded in {timeout}s")


if __name__ == "__main__":
    main()
