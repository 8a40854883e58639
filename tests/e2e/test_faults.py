"""The fault suite: real workers, a real receiver, and the faults a platform meets on a bad day.

For each fault it counts what the receiver got against what was published: lost must be zero;
duplicates are allowed (at-least-once) but counted and printed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from django.conf import settings
from django.db import connection

from deliveries import publish_event
from deliveries.models import Delivery
from deliveries.services.sweep import sweep
from endpoints.services import endpoint_create
from tests.workers import ROOT, start_worker, worker_env
from webhooks_platform.celery import app as celery_app

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ON_REDIS = settings.CELERY_BROKER_URL.startswith("redis")
ON_POSTGRES = connection.vendor == "postgresql"


def _tally(receiver, expected_ids: dict[str, set[str]]) -> tuple[int, int]:
    """(lost, duplicates) over every path's expected webhook ids."""
    lost = duplicates = 0
    for path, ids in expected_ids.items():
        counts = Counter(r.headers["webhook-id"] for r in receiver.received(path))
        lost += len(ids - set(counts))
        duplicates += sum(n - 1 for n in counts.values() if n > 1)
    return lost, duplicates


def _settle(receiver, expected_ids, timeout=90.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sweep()  # what beat does every few seconds
        lost, duplicates = _tally(receiver, expected_ids)
        if lost == 0:
            time.sleep(0.5)
            return _tally(receiver, expected_ids)
        time.sleep(0.5)
    return _tally(receiver, expected_ids)


def _report(name, published, lost, duplicates):
    print(f"\n[fault] {name}: published={published} lost={lost} duplicates={duplicates}")


@pytest.fixture
def long_hang_settings(e2e_settings):  # type: ignore[no-untyped-def]
    """A receiver that hangs for 10 s, well inside the attempt timeout (so not a timeout)."""
    e2e_settings.WEBHOOKS_ATTEMPT_TIMEOUT = 15
    return e2e_settings


def test_a_hanging_endpoint_does_not_hold_up_healthy_ones(
    long_hang_settings, worker, receiver, tenant, invoice_paid
):
    for i in range(2):
        endpoint_create(tenant=tenant, url=receiver.url(f"/hang/10?slow={i}"))
    healthy = [endpoint_create(tenant=tenant, url=receiver.url(f"/ok/{i}"))[0] for i in range(5)]
    for i in range(10):
        publish_event(tenant, "invoice.paid", {"n": i})

    got = receiver.wait_for(50, path_prefix="/ok", timeout=60)

    # Every healthy delivery arrived while the hanging requests were still unanswered: none of
    # them waited for the slow receiver (its first answer comes 10 s after it was asked).
    first_hang = min(r.at for r in receiver.received("/hang"))
    assert len(got) == 50
    assert max(r.at for r in got) < first_hang + 10
    assert all(r.at < first_hang + 10 for r in receiver.received("/hang"))  # all were in flight
    done = lambda: Delivery.objects.filter(endpoint__in=healthy, status="succeeded").count()  # noqa: E731
    deadline = time.monotonic() + 30
    while done() < 50 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert done() == 50


def test_broker_flushed_with_deliveries_queued(
    tmp_path, e2e_settings, clean_broker, receiver, tenant, invoice_paid
):
    endpoint_create(tenant=tenant, url=receiver.url("/a"))
    endpoint_create(tenant=tenant, url=receiver.url("/b"))
    events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(30)]
    if ON_REDIS:
        with celery_app.connection_for_write() as conn:
            conn.default_channel.client.flushdb()
    else:
        celery_app.control.purge()
    proc = start_worker(tmp_path)
    try:
        time.sleep(1.2)  # the dispatch markers of the lost messages run out
        ids = {e.pk for e in events}
        lost, duplicates = _settle(receiver, {"/a": ids, "/b": ids})
    finally:
        proc.stop()
    _report("broker flushed", 60, lost, duplicates)
    assert lost == 0


@pytest.mark.skipif(
    not (ON_REDIS and ON_POSTGRES), reason="drops server-side connections: PostgreSQL and Redis"
)
def test_connections_dropped_under_load(worker, receiver, tenant, invoice_paid):
    endpoint_create(tenant=tenant, url=receiver.url("/a"))
    endpoint_create(tenant=tenant, url=receiver.url("/b"))
    events = []
    stop = threading.Event()

    def drop_connections():
        import psycopg

        dsn = (
            f"host={connection.settings_dict['HOST'] or '127.0.0.1'} "
            f"port={connection.settings_dict['PORT'] or 5432} "
            f"user={connection.settings_dict['USER'] or 'postgres'} dbname=postgres"
        )
        db_name = connection.settings_dict["NAME"]
        while not stop.wait(0.7):
            with psycopg.connect(dsn, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid() "
                    "AND application_name <> 'pytest-main'",
                    [db_name],
                )
            with celery_app.connection_for_write() as conn:
                conn.default_channel.client.execute_command("CLIENT", "KILL", "TYPE", "normal")

    with connection.cursor() as cursor:
        cursor.execute("SET application_name = 'pytest-main'")
    dropper = threading.Thread(target=drop_connections, daemon=True)
    dropper.start()
    try:
        for i in range(150):
            events.append(publish_event(tenant, "invoice.paid", {"n": i}))
            time.sleep(0.01)
    finally:
        stop.set()
        dropper.join()
    ids = {e.pk for e in events}
    lost, duplicates = _settle(receiver, {"/a": ids, "/b": ids}, timeout=120)
    _report("connections dropped", 300, lost, duplicates)
    assert lost == 0
    assert worker.proc.poll() is None  # recovered without a restart


class RedisServer:
    """A Redis server of the test's own on a free port, so it can be stopped and started."""

    def __init__(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tmp_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.mark.skipif(not ON_REDIS, reason="restarts a Redis server")
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_a_worker_rides_out_broker_restarts(tmp_path, e2e_settings, receiver, tenant, invoice_paid):
    # given a worker (with its scheduler) on a Redis server of this test's own
    redis = RedisServer(tmp_path)
    redis.start()
    env = worker_env(CELERY_BROKER_URL=redis.url)
    worker = start_worker(tmp_path, env=env, extra_args=["--beat"])
    endpoint_create(tenant=tenant, url=receiver.url("/restarts"))
    publisher = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.publish_stream", "acme", "invoice.paid", "10", "20"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    try:
        # when Redis is restarted three times (losing what it held) while events are published
        for _ in range(3):
            time.sleep(4)
            redis.stop()
            time.sleep(1)
            redis.start()
        published = set(publisher.communicate(timeout=60)[0].decode().split())

        # then the worker never stopped and, with the sweeper's help, everything arrived
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _tally(receiver, {"/restarts": published})[0]:
            time.sleep(0.5)
        lost, duplicates = _tally(receiver, {"/restarts": published})
        _report("broker restarted 3 times", len(published), lost, duplicates)
        output = worker.output()
        assert worker.proc.poll() is None, output
        assert "Unrecoverable error" not in output
        assert "Error on restarting" not in output
        assert len(published) >= 150
        assert lost == 0
    finally:
        publisher.kill()
        worker.stop()
        redis.stop()
