"""The embedded broker (platform_core/sqlite_broker.py) as kombu clients use it."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Queue

from platform_core.sqlite_broker import register

register()

QUEUE = Queue("jobs", Exchange("jobs", "direct"), "jobs")
# Large enough that a write is not one page: a reader must never see half of it.
PADDING = "x" * 20_000


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'broker.sqlite3'}"


def _produce(url: str, producer: int, count: int) -> None:
    with Connection(url) as conn:
        publish = conn.Producer().publish
        for n in range(count):
            body = {"producer": producer, "n": n, "pad": PADDING}
            publish(body, exchange=QUEUE.exchange, routing_key="jobs", declare=[QUEUE])


def _drain(url: str, expected: int, timeout: float = 20) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []

    def on_message(body: dict, message) -> None:  # type: ignore[no-untyped-def]
        assert body["pad"] == PADDING
        seen.append((body["producer"], body["n"]))
        message.ack()

    with (
        Connection(url, transport_options={"polling_interval": 0.01}) as conn,
        conn.Consumer(QUEUE, callbacks=[on_message]),
    ):
        while len(seen) < expected:
            try:
                conn.drain_events(timeout=timeout)
            except TimeoutError:
                break
    return seen


def test_messages_from_other_processes_arrive_whole_and_once(tmp_path):
    # given four processes publishing while this one consumes
    url = _url(tmp_path)
    context = multiprocessing.get_context("spawn")
    producers = [context.Process(target=_produce, args=(url, p, 300)) for p in range(4)]
    for process in producers:
        process.start()

    # when the consumer reads until it has them all
    seen = _drain(url, expected=1200)
    for process in producers:
        process.join(timeout=30)

    # then each message arrived exactly once, complete, and each producer's in order
    assert [p.exitcode for p in producers] == [0, 0, 0, 0]
    assert sorted(seen) == sorted((p, n) for p in range(4) for n in range(300))
    for producer in range(4):
        assert [n for p, n in seen if p == producer] == list(range(300))


def test_a_read_message_is_gone_and_purge_empties_the_queue(tmp_path):
    url = _url(tmp_path)
    _produce(url, 0, 3)
    with Connection(url) as conn:
        channel = conn.default_channel
        assert channel._size("jobs") == 3
        assert conn.SimpleQueue(QUEUE).get(timeout=1).payload["n"] == 0
        assert channel._size("jobs") == 2
        assert channel.queue_purge("jobs") == 2
        assert channel._size("jobs") == 0


def test_fanout_reaches_queues_bound_in_another_connection(tmp_path):
    # given two queues bound to a fanout exchange by one client (a worker's remote control)
    url = _url(tmp_path)
    broadcast = Exchange("control", "fanout")
    queues = [Queue(f"worker{i}.pidbox", broadcast) for i in (1, 2)]
    with Connection(url) as worker:
        for queue in queues:
            queue(worker.default_channel).declare()

        # when a different client (another process, say) broadcasts
        with Connection(url) as other:
            other.Producer().publish({"ping": 1}, exchange=broadcast, declare=[broadcast])

        # then every bound queue holds the message
        for queue in queues:
            assert worker.SimpleQueue(queue).get(timeout=1).payload == {"ping": 1}


def test_a_bare_url_needs_the_path_option():
    with pytest.raises(ValueError, match="give a path"), Connection("sqlite://") as conn:
        conn.default_channel  # noqa: B018  (opening the channel opens the file)
