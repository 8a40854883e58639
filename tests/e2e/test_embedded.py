"""The embedded mode as `make run` starts it: ``run_platform`` (gunicorn + worker + beat) on SQLite
and the SQLite broker, with a product publishing from another process.

The soak runs for ``SOAK_SECONDS`` (default 180) at ``SOAK_RATE`` events a second (default 10):
long enough that the filesystem broker this replaced died in every run (it did within seconds).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from deliveries import publish_event
from endpoints.services import endpoint_create
from tests.workers import ROOT, free_port, worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "180"))
SOAK_RATE = float(os.environ.get("SOAK_RATE", "10"))


@pytest.fixture(autouse=True)
def _embedded_only() -> None:
    if connection.vendor != "sqlite" or not settings.CELERY_BROKER_URL.startswith("sqlite://"):
        pytest.skip("the embedded mode: SQLite and the SQLite broker")


def _get(url: str, timeout: float = 5) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  (loopback)
            return response.status
    except OSError:
        return 0


def _children(pid: int) -> dict[str, int]:
    """``run_platform``'s children by role, read from /proc."""
    found = {}
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    for child in text.split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        found["worker" if b"celery" in cmdline else "web"] = int(child)
    return found


@dataclass
class Platform:
    proc: subprocess.Popen[bytes]
    log: Path
    base_url: str
    failed_probes: list[str] = field(default_factory=list)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            worker_ready = "ready." in self.output()
            if worker_ready and _get(f"{self.base_url}/healthz", timeout=1) == 200:
                return
            assert self.proc.poll() is None, f"run_platform exited:\n{self.output()}"
            time.sleep(0.2)
        raise AssertionError(f"not serving after {timeout}s:\n{self.output()}")

    def probe_while(self, running: threading.Event) -> threading.Thread:
        """Ask for the health check and the sign-in page every half second while ``running``."""

        def probe() -> None:
            while running.is_set():
                for path in ("/healthz", "/login/"):
                    status = _get(self.base_url + path)
                    if status != 200:
                        self.failed_probes.append(f"{time.strftime('%X')} {path} -> {status}")
                time.sleep(0.5)

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        return thread


@pytest.fixture
def platform(tmp_path, e2e_settings, clean_broker) -> Iterator[Platform]:  # type: ignore[no-untyped-def]
    port = free_port()
    log = tmp_path / "platform.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_platform", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=worker_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Platform(proc=proc, log=log, base_url=f"http://127.0.0.1:{port}")
    try:
        running.wait_serving()
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Whatever of its group is still alive (its children, had it died first) must not go on
        # consuming the broker the next test uses.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_steady_stream_from_another_process_is_all_delivered_while_the_dashboard_serves(
    platform, receiver, tenant, invoice_paid
):
    # given the embedded platform and an endpoint
    endpoint_create(tenant=tenant, url=receiver.url("/soak"))
    probing = threading.Event()
    probing.set()
    prober = platform.probe_while(probing)

    # when a second process publishes a steady stream for several minutes
    publisher = subprocess.run(
        [sys.executable, "-m", "tests.e2e.publish_stream", "acme", "invoice.paid"]
        + [str(SOAK_RATE), str(SOAK_SECONDS)],
        cwd=ROOT,
        env=worker_env(),
        capture_output=True,
        timeout=SOAK_SECONDS + 120,
        check=True,
    )
    published = publisher.stdout.decode().split()
    receiver.wait_for(len(published), "/soak", timeout=60)
    probing.clear()
    prober.join(timeout=10)

    # then every event arrived, nothing had to be restarted, and the pages always answered
    arrived = {r.headers["webhook-id"] for r in receiver.received("/soak")}
    assert len(published) >= SOAK_RATE * SOAK_SECONDS * 0.9
    assert set(published) - arrived == set()
    output = platform.output()
    assert "exited with code" not in output
    assert "Unrecoverable error" not in output
    assert platform.proc.poll() is None
    assert platform.failed_probes == []


def test_a_child_that_dies_is_restarted_and_the_other_keeps_serving(
    platform, receiver, tenant, invoice_paid
):
    # given the embedded platform and an endpoint
    endpoint_create(tenant=tenant, url=receiver.url("/after"))
    worker = _children(platform.proc.pid)["worker"]

    # when the worker is killed outright
    os.kill(worker, signal.SIGKILL)

    # then the dashboard keeps answering, the worker comes back, and work published meanwhile
    # is delivered by the new one
    event = publish_event(tenant, "invoice.paid", {"while": "down"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "worker restarted" not in platform.output():
        assert _get(f"{platform.base_url}/healthz") == 200
        time.sleep(0.2)
    assert "worker exited with code -9; restarting it in 1 s" in platform.output()
    assert "worker restarted (restart 1)" in platform.output()
    assert _children(platform.proc.pid)["worker"] != worker
    got = receiver.wait_for(1, "/after", timeout=60)
    assert [r.headers["webhook-id"] for r in got] == [event.pk]

    # and the same holds for the web server (its orphaned workers may answer meanwhile)
    os.kill(_children(platform.proc.pid)["web"], signal.SIGKILL)
    assert _wait_for_output(platform, "web restarted (restart 1)", timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _get(f"{platform.base_url}/healthz", timeout=1) != 200:
        time.sleep(0.2)
    assert _get(f"{platform.base_url}/healthz") == 200
    assert platform.proc.poll() is None


def test_the_children_stop_when_run_platform_is_killed(platform):
    # given the embedded platform's web server and worker
    children = _children(platform.proc.pid)
    assert set(children) == {"web", "worker"}

    # when run_platform itself is killed outright
    os.kill(platform.proc.pid, signal.SIGKILL)
    platform.proc.wait(timeout=10)

    # then its children do not live on as orphans
    deadline = time.monotonic() + 40
    alive = list(children.values())
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        time.sleep(0.2)
    assert alive == []


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False


def _wait_for_output(platform: Platform, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and text not in platform.output():
        time.sleep(0.2)
    return text in platform.output()
