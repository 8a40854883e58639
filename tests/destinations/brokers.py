"""Real brokers for the destination kinds: the Redis on 127.0.0.1:6379 (the db of the test
run's broker URL, a stream of a name unique to each test) and the RabbitMQ on 127.0.0.1:5672
(an exchange and a queue of names unique to each test, deleted after it)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from django.conf import settings

RABBIT_PORT = int(os.environ.get("WEBHOOKS_TEST_RABBITMQ_PORT", "5672"))


def redis_db() -> int:
    url = str(settings.CELERY_BROKER_URL)
    if url.startswith("redis://"):
        tail = url.rsplit("/", 1)[-1]
        if tail.isdigit():
            return int(tail)
    return 7


@dataclass
class Stream:
    name: str
    url: str
    client: redis.Redis

    def entries(self) -> list[tuple[str, dict[str, str]]]:
        return [
            (eid.decode(), {k.decode(): v.decode() for k, v in fields.items()})
            for eid, fields in self.client.xrange(self.name)
        ]


@pytest.fixture
def redis_stream() -> Iterator[Stream]:
    try:
        client = redis.Redis(host="127.0.0.1", port=6379, db=redis_db(), socket_timeout=5)
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379 (.ci/run starts one)")
    name = f"test-stream-{uuid.uuid4().hex[:12]}"
    yield Stream(name=name, url=f"redis://127.0.0.1:6379/{redis_db()}", client=client)
    client.delete(name)
    client.close()


@dataclass
class Rabbit:
    port: int
    exchange: str
    queue: str
    url: str

    def run(self, coro: Any) -> Any:
        # On a thread of its own: a browser test earlier in the session may have left an event
        # loop running on this one (Playwright's sync API), where asyncio.run refuses to start.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    async def _connect(self) -> Any:
        import aio_pika

        return await aio_pika.connect(host="127.0.0.1", port=self.port, timeout=10)

    def setup(self) -> None:
        async def go() -> None:
            conn = await self._connect()
            async with conn:
                channel = await conn.channel()
                exchange = await channel.declare_exchange(self.exchange, "topic", durable=True)
                queue = await channel.declare_queue(self.queue, durable=True)
                await queue.bind(exchange, "#")

        self.run(go())

    def drop_exchange(self) -> None:
        async def go() -> None:
            conn = await self._connect()
            async with conn:
                channel = await conn.channel()
                await channel.exchange_delete(self.exchange)

        self.run(go())

    def messages(self) -> list[Any]:
        """Every message in the queue now (taken: acknowledged)."""

        async def go() -> list[Any]:
            conn = await self._connect()
            out = []
            async with conn:
                channel = await conn.channel()
                queue = await channel.declare_queue(self.queue, durable=True, passive=True)
                while True:
                    message = await queue.get(fail=False, no_ack=True)
                    if message is None:
                        return out
                    out.append(message)

        return self.run(go())

    def teardown(self) -> None:
        async def go() -> None:
            conn = await self._connect()
            async with conn:
                channel = await conn.channel()
                await channel.queue_delete(self.queue)
                await channel.exchange_delete(self.exchange)

        with contextlib.suppress(Exception):  # a broker the test stopped
            self.run(go())


def rabbit_for(port: int) -> Rabbit:
    tag = uuid.uuid4().hex[:12]
    return Rabbit(
        port=port,
        exchange=f"test-events-{tag}",
        queue=f"test-queue-{tag}",
        url=f"amqp://guest@127.0.0.1:{port}/",
    )


@pytest.fixture
def rabbit() -> Iterator[Rabbit]:
    pytest.importorskip("aio_pika")
    import socket

    try:
        socket.create_connection(("127.0.0.1", RABBIT_PORT), timeout=2).close()
    except OSError:
        pytest.skip(f"no RabbitMQ on 127.0.0.1:{RABBIT_PORT} (.ci/run starts one)")
    broker = rabbit_for(RABBIT_PORT)
    broker.setup()
    yield broker
    broker.teardown()


class RabbitNode:
    """A RabbitMQ node of this test's own (Debian's rabbitmq-server on free ports, its data in
    a temporary folder), so the test can stop and restart the broker without touching the
    shared one."""

    def __init__(self, base: Any) -> None:
        from tests.workers import free_port

        self.base = base
        self.port = free_port()
        self.dist_port = free_port()
        self.name = f"webhooks-test-{uuid.uuid4().hex[:8]}@localhost"
        self.proc: Any = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.base / "no-config"),
        )
        return env

    def start(self, timeout: float = 90) -> None:
        import shutil
        import subprocess

        from tests.workers import wait_for_port

        (self.base / "enabled_plugins").write_text("[].\n")
        if os.geteuid() == 0:  # Debian's script runs the node as the rabbitmq user
            shutil.chown(self.base, "rabbitmq")
            for path in self.base.iterdir():
                shutil.chown(path, "rabbitmq")
        # The node's own script, run as the rabbitmq user directly (Debian's wrapper goes
        # through su, which would keep the node out of reach of a signal to this group).
        env = self.env()
        env["HOME"] = str(self.base)  # its Erlang cookie
        self.proc = subprocess.Popen(
            ["/usr/lib/rabbitmq/bin/rabbitmq-server"],
            env=env,
            user="rabbitmq" if os.geteuid() == 0 else None,
            cwd=self.base,
            stdout=open(self.base / "server.out", "ab"),  # noqa: SIM115  (the child keeps it)
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not wait_for_port(self.port, timeout=timeout):
            self.stop()
            raise RuntimeError((self.base / "server.out").read_text(errors="replace")[-3000:])

    def stop(self) -> None:
        import signal

        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except Exception:  # noqa: BLE001
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def rabbit_node() -> Iterator[RabbitNode]:
    import shutil
    import tempfile
    from pathlib import Path

    if not os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server"):
        pytest.skip("rabbitmq-server is not installed (.ci/run installs it)")
    if os.geteuid() != 0:
        pytest.skip("a RabbitMQ node of the test's own needs root (Debian's script switches user)")
    pytest.importorskip("aio_pika")
    # Under /tmp itself: the node runs as the rabbitmq user, which cannot enter pytest's folders.
    base = Path(tempfile.mkdtemp(prefix="webhooks-rabbit-"))
    base.chmod(0o755)
    node = RabbitNode(base)
    try:
        node.start()
        yield node
    finally:
        node.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Moto:
    """moto's standalone server on 127.0.0.1 (AWS as boto3 reaches it), and a client of it."""

    url: str
    region: str = "us-east-1"

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106  (moto's)
        )

    def sqs_queue(self, fifo: bool = False) -> str:
        name = f"test-{uuid.uuid4().hex[:10]}" + (".fifo" if fifo else "")
        attributes = {"FifoQueue": "true"} if fifo else {}
        return self.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]

    def sqs_messages(self, queue_url: str) -> list[dict[str, Any]]:
        client = self.client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            got = client.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not got:
                return out
            out.extend(got)
            client.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Moto]:
    """One moto server for the session, as its own process (tests make their own queues)."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    from tests import fake_dns
    from tests.workers import ROOT, free_port, wait_for_port

    port = free_port()
    env = dict(os.environ)
    # The test's resolver rule holds in this process too (it resolves nothing but loopback).
    site = str(Path(ROOT) / "tests" / "subprocess_site")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (site, env.get("PYTHONPATH", "")) if p)
    env[fake_dns.TABLE_ENV] = "{}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        if not wait_for_port(port, timeout=60):
            raise RuntimeError("moto's server did not start")
        yield Moto(url=f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def sns_topic_to_queue(moto: Moto, *, fifo: bool = False) -> tuple[str, str]:
    """A topic and a queue subscribed to it with raw delivery (the body and attributes as
    published); returns (topic ARN, queue URL)."""
    suffix = ".fifo" if fifo else ""
    name = f"test-{uuid.uuid4().hex[:10]}"
    attributes = {"FifoTopic": "true"} if fifo else {}
    arn = moto.client("sns").create_topic(Name=name + suffix, Attributes=attributes)["TopicArn"]
    queue_url = moto.client("sqs").create_queue(
        QueueName=name + suffix, Attributes={"FifoQueue": "true"} if fifo else {}
    )["QueueUrl"]
    queue_arn = moto.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    moto.client("sns").subscribe(
        TopicArn=arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return arn, queue_url
