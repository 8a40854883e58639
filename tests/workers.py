"""Real Celery worker and beat processes against the test database and the configured broker."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests import fake_dns

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> bool:
    """Wait until something accepts connections on 127.0.0.1:``port``; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of this test process, pointed at the test database, with the test's
    resolver table (``tests.fake_dns``) installed in the process at its start."""
    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        user = db.get("USER") or ""
        auth = f"{user}:{db.get('PASSWORD') or ''}@" if user else ""
        host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
        env["DATABASE_URL"] = f"postgres://{auth}{host}/{db['NAME']}"
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env["WEBHOOKS_VAR_DIR"] = str(settings.VAR_DIR)
    for name in (
        "WEBHOOKS_RETRY_SCHEDULE",
        "WEBHOOKS_ATTEMPT_TIMEOUT",
        "WEBHOOKS_ALLOWED_SUBNETS",
        "WEBHOOKS_SWEEP_INTERVAL",
        "WEBHOOKS_DISPATCH_TIMEOUT",
        "WEBHOOKS_FANOUT_GRACE",
    ):
        value = getattr(settings, name)
        env[name] = (
            ",".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
        )
    # Name lookups in the process answer from this test's resolver table, as in the test itself.
    site = str(ROOT / "tests" / "subprocess_site")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (site, env.get("PYTHONPATH", "")) if p)
    env[fake_dns.TABLE_ENV] = json.dumps(fake_dns.active_table)
    env.update(extra)
    return env


class WorkerProcess:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115  (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "webhooks_platform", *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, marker: str = "ready.", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.output():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, as when a machine dies."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def start_worker(
    tmp_path: Path,
    *,
    name: str = "w1",
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
) -> WorkerProcess:
    worker = WorkerProcess(
        ["worker", "--loglevel", "INFO", "--hostname", f"{name}@%h", *(extra_args or [])],
        env or worker_env(),
        tmp_path / f"{name}.log",
    )
    worker.wait_ready()
    return worker


@contextlib.contextmanager
def gunicorn_server(
    log: Path, *, threads: int = 2, env: dict[str, str] | None = None
) -> Iterator[int]:
    """The web server as docker-compose starts it (one gthread worker here), on the test
    database, with ``env`` added to its environment; yields its port."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "webhooks_platform.wsgi"]
            + ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", str(threads)],
            cwd=ROOT,
            env=worker_env(**(env or {})),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port)
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=20)
