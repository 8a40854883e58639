"""``manage.py run_worker``: the README's worker command, one Celery worker (and engine) per
process it starts, supervised. Real processes against the configured database and broker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from deliveries import publish_event
from deliveries.management.commands.run_worker import worker_children
from deliveries.models import Attempt, Delivery
from deliveries.services.sweep import LEASE_LOST_ERROR, sweep
from endpoints.services import endpoint_create
from tests.workers import ROOT, worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _wait(predicate, timeout=60.0, interval=0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _connected_to(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds an established TCP connection to 127.0.0.1:``port``."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if remote_port == port and fields[3] == "01" and fields[9] in inodes:
                    return True
    return False


@dataclass
class RunWorker:
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def children(self) -> list[int]:
        pid = self.proc.pid
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(child) for child in text.split() if _alive(int(child))]

    def wait_ready(self, count: int) -> None:
        def ready() -> bool:
            assert self.proc.poll() is None, f"run_worker exited:\n{self.output()}"
            return self.output().count(" ready.") >= count

        assert _wait(ready), f"not {count} workers ready:\n{self.output()}"


@pytest.fixture
def run_worker(tmp_path, e2e_settings, clean_broker) -> Iterator[RunWorker]:  # type: ignore[no-untyped-def]
    log = tmp_path / "run_worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--processes", "2"],
            cwd=ROOT,
            env=worker_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = RunWorker(proc=proc, log=log)
    try:
        running.wait_ready(2)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=40)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_run_worker_starts_the_celery_workers_it_is_asked_for(run_worker):
    # given run_worker --processes 2 (ready)
    # then it runs two Celery workers, each under its own node name
    children = run_worker.children()
    assert len(children) == 2
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in children]
    assert all(b"celery" in c and b"worker" in c for c in commands)
    assert sorted(c[c.index(b"--hostname") + 1] for c in commands) == [b"worker1@%h", b"worker2@%h"]


def test_a_worker_killed_mid_request_is_replaced_and_its_delivery_sent_again(
    run_worker, receiver, tenant, invoice_paid
):
    # given a request held by the receiver in one of run_worker's two workers
    endpoint_create(tenant=tenant, url=receiver.url("/hold"))
    event = publish_event(tenant, "invoice.paid", {})
    assert receiver.wait_for(1, timeout=30), run_worker.output()
    port = int(receiver.base_url.rsplit(":", 1)[1])
    before = run_worker.children()
    holders = [pid for pid in before if _connected_to(pid, port)]
    assert len(holders) == 1

    # when that worker is killed outright
    os.kill(holders[0], signal.SIGKILL)

    # then it is replaced by a new worker, and the other one is left alone
    assert _wait(lambda: "restarted (restart 1)" in run_worker.output()), run_worker.output()
    run_worker.wait_ready(3)
    after = run_worker.children()
    assert len(after) == 2
    assert holders[0] not in after
    assert set(before) - {holders[0]} <= set(after)

    # and the delivery it held is sent again once its lease is over (recorded as a lost try)
    delivery = Delivery.objects.get(event=event)
    assert delivery.status == Delivery.Status.SENDING
    Delivery.objects.filter(pk=delivery.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    receiver.release.set()
    assert sweep().leases_recovered == 1

    def delivered() -> bool:
        sweep()
        return Delivery.objects.filter(pk=delivery.pk, status="succeeded").exists()

    assert _wait(delivered, timeout=30, interval=0.3), run_worker.output()
    attempts = list(Attempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.error) for a in attempts] == [(1, LEASE_LOST_ERROR), (2, "")]


def test_every_delivery_arrives_and_sigterm_stops_every_worker(
    run_worker, receiver, tenant, invoice_paid
):
    # given run_worker's two workers and an endpoint
    endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    children = run_worker.children()

    # when events are published
    events = [publish_event(tenant, "invoice.paid", {"n": n}) for n in range(40)]

    # then every one arrives
    receiver.wait_for(40, "/ok", timeout=60)
    arrived = {r.headers["webhook-id"] for r in receiver.received("/ok")}
    assert arrived == {e.pk for e in events}

    # and SIGTERM stops run_worker and both workers, each with a warm shutdown
    run_worker.proc.send_signal(signal.SIGTERM)
    assert run_worker.proc.wait(timeout=40) == 0
    assert _wait(lambda: not any(_alive(pid) for pid in children), timeout=10)
    assert run_worker.output().count("Warm shutdown") == 2
    assert "exited with code" not in run_worker.output()


def test_the_default_is_one_worker_per_usable_core_one_on_sqlite(settings):
    # given no count configured
    settings.WEBHOOKS_WORKER_PROCESSES = 0

    # when run_worker plans its workers
    children = worker_children([])

    # then there is one per core this process may run on (one on the embedded SQLite database,
    # whose single writer gains nothing from more)
    expected = 1 if connection.vendor == "sqlite" else len(os.sched_getaffinity(0))
    assert len(children) == expected


def test_the_setting_chooses_the_count_and_only_the_first_runs_beat(settings):
    settings.WEBHOOKS_WORKER_PROCESSES = 3

    children = worker_children(["--loglevel", "INFO"], beat=True)

    assert [c.name for c in children] == ["worker-1", "worker-2", "worker-3"]
    assert ["--beat" in c.command for c in children] == [True, False, False]
