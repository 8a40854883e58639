"""What the harness starts and tears down: the bench database, Redis db 14 (or
``BENCH_BROKER_URL``), the receiver and the platform's Celery workers. Everything listens on or
connects to 127.0.0.1 only.

Every child process gets its own session (process group) and is killed with it on exit, on error
and on SIGINT/SIGTERM, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = os.environ.get("BENCH_DB_NAME", "bench_webhooks")
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
# Two benches on one Redis db take each other's messages (a fan-out of an event the other's
# database does not hold): give each its own with BENCH_BROKER_URL.
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
VAR_DIR = Path(os.environ.get("BENCH_VAR_DIR", "/tmp/webhooks-bench-var"))  # noqa: S108


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (nearest rank); NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def tree_at(rev: str) -> Path:
    """The project's files at git revision ``rev``, exported once under ``VAR_DIR`` (to run an
    earlier version's workers in the same run as this one's)."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    out = VAR_DIR / f"tree-{sha}"
    if not out.exists():
        out.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", sha], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def platform_env(**extra: str) -> dict[str, str]:
    """The production configuration (PostgreSQL + Redis), loopback allowed for the receiver."""
    env = dict(os.environ)
    env.pop("PYTEST_VERSION", None)
    env.update(
        DATABASE_URL=DATABASE_URL,
        CELERY_BROKER_URL=BROKER_URL,
        WEBHOOKS_ALLOWED_SUBNETS="127.0.0.0/8",
        WEBHOOKS_VAR_DIR=str(VAR_DIR),
        DJANGO_SETTINGS_MODULE="webhooks_platform.settings",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def configure_this_process() -> None:
    """Point this process's Django at the bench database and broker, then set it up."""
    os.environ.update(platform_env())
    import django

    django.setup()


# --- the database and the broker ---------------------------------------------------------------


def database_prepare() -> None:
    """Create the bench database if missing, migrate it and empty every table."""
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    database_truncate()


def database_truncate() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'django_migrations'"
        )
        tables = [row[0] for row in cur.fetchall()]
        cur.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")


def broker_flush() -> None:
    import redis

    redis.Redis.from_url(BROKER_URL).flushdb()


# --- child processes -----------------------------------------------------------------------------

_children: list[subprocess.Popen[bytes]] = []
_other_pids: set[int] = set()  # processes started by multiprocessing (the publishers)


def register_pid(pid: int) -> None:
    _other_pids.add(pid)


def _kill_all(*_: Any) -> None:
    for pid in _other_pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _other_pids.clear()
    for proc in _children:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    for proc in _children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    _children.clear()


def _on_signal(signum: int, _frame: Any) -> None:
    _kill_all()
    # Not sys.exit: interpreter shutdown would wait for the publishers' pool threads.
    os._exit(128 + signum)


atexit.register(_kill_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def spawn(
    args: list[str], *, log: Path, env: dict[str, str], cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
    if proc in _children:
        _children.remove(proc)


def wait_for_text(log: Path, marker: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and marker in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{log.name}: exited early\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    raise RuntimeError(f"{log.name}: not ready after {timeout}s\n{log.read_text(errors='replace')}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    def __init__(self, logs: Path, name: str = "receiver") -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        log = logs / f"{name}.log"
        self.proc = spawn(
            [sys.executable, "-m", "bench.receiver", str(self.port)], log=log, env=platform_env()
        )
        wait_for_text(log, "ready", self.proc, timeout=20)

    def _call(self, path: str, data: bytes | None = None) -> Any:
        method = "POST" if data else "GET"
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  (loopback)
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return self._call("/_stats")

    def total(self) -> int:
        """Requests received since the last reset (all paths)."""
        return int(self._call("/_total")["total"])

    def reset(self) -> None:
        self._call("/_reset", b"{}")

    def register_secrets(self, secrets: dict[str, str]) -> None:
        self._call("/_secrets", json.dumps(secrets).encode())


class Workers:
    """``count`` Celery worker processes (threads pool) plus beat for the sweeper."""

    def __init__(
        self,
        logs: Path,
        *,
        count: int,
        concurrency: int,
        extra_env: dict[str, str],
        profile: Path | None = None,
    ):
        """``profile``: run each worker under ``bench.profiled`` (``<profile>-<i>.pstats``)."""
        env = platform_env(**extra_env)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        queues = "webhooks.deliver,webhooks.retry,webhooks.default"
        for i in range(count):
            log = logs / f"worker{i}.log"
            launcher = ["-m", "celery"]
            if profile is not None:
                launcher = ["-m", "bench.profiled", f"{profile}-{i}.pstats", "celery"]
            proc = spawn(
                [
                    sys.executable,
                    *launcher,
                    "-A",
                    "webhooks_platform",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--hostname",
                    f"bench{i}@%h",
                    "--pool",
                    "threads",
                    "--concurrency",
                    str(concurrency),
                    "-Q",
                    queues,
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                log=log,
                env=env,
            )
            self.procs.append(proc)
            self.logs.append(log)
        beat_log = logs / "beat.log"
        self.beat = spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "webhooks_platform",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(VAR_DIR / "bench-beat-schedule"),
            ],
            log=beat_log,
            env=env,
        )
        for proc, log in zip(self.procs, self.logs, strict=True):
            wait_for_text(log, "ready.", proc, timeout=60)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs] + [self.beat.pid]

    def stop(self) -> None:
        for proc in [*self.procs, self.beat]:
            stop(proc)


class ReadmeWorkers:
    """The README's worker command, ``python manage.py run_worker`` as it stands (one Celery
    worker per core, supervised), and ``celery -A webhooks_platform beat`` beside it; ``root``: a
    tree of another revision (``tree_at``) to run instead of this one."""

    def __init__(self, logs: Path, *, root: Path = ROOT, label: str = "readme") -> None:
        env = platform_env(PYTHONPATH=str(root))
        self.log = logs / f"{label}.log"
        self.proc = spawn(
            [sys.executable, "manage.py", "run_worker"], log=self.log, env=env, cwd=root
        )
        self.beat = spawn(
            [sys.executable, "-m", "celery", "-A", "webhooks_platform", "beat", "--loglevel"]
            + ["INFO", "--schedule", str(VAR_DIR / "bench-beat-schedule")],
            log=logs / f"{label}-beat.log",
            env=env,
            cwd=root,
        )
        self.count = len(os.sched_getaffinity(0))
        deadline = time.monotonic() + 90
        while self._ready() < self.count:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"run_worker not ready\n{self.log.read_text(errors='replace')}")
            time.sleep(0.05)

    def _ready(self) -> int:
        return self.log.read_text(errors="replace").count(" ready.") if self.log.exists() else 0

    def worker_pids(self) -> list[int]:
        try:
            return [c.pid for c in psutil.Process(self.proc.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def pids(self) -> list[int]:
        return [self.proc.pid, self.beat.pid]

    def stop(self) -> None:
        # run_worker's warm shutdown can take the attempt timeout and 10 s more.
        for proc in (self.proc, self.beat):
            stop(proc, timeout=40)


class Frontier:
    """``count`` processes of the bare-bones engine (``bench.frontier``), the first fanning the
    tenant's backlog out."""

    def __init__(
        self, logs: Path, *, count: int, tenant: int, endpoint: str, secret: str, url: str
    ) -> None:
        env = platform_env()
        self.procs = []
        self.logs = []
        for i in range(count):
            log = logs / f"frontier{i}.log"
            args = [sys.executable, "-m", "bench.frontier", str(tenant), endpoint, secret, url]
            self.procs.append(spawn(args + (["--fan-out"] if i == 0 else []), log=log, env=env))
            self.logs.append(log)
        for proc, log in zip(self.procs, self.logs, strict=True):
            wait_for_text(log, "frontier ready", proc, timeout=60)

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def pids(self) -> list[int]:
        return self.worker_pids()

    def stop(self) -> None:
        for proc in self.procs:
            stop(proc)


# --- CPU accounting ------------------------------------------------------------------------------


def _tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
    return total


def _postgres_cpu() -> float:
    """PostgreSQL's shared processes plus the backends connected to the bench database."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        name = proc.info["name"] or ""
        if not name.startswith("postgres"):
            continue
        cmd = " ".join(proc.info["cmdline"] or [])
        backend = "127.0.0.1(" in cmd or "[local]" in cmd
        if backend and f" {DB_NAME} " not in cmd:
            continue  # another database's client (a test run sharing the server)
        times = proc.info["cpu_times"]
        if times is not None:
            total += times.user + times.system
    return total


def _backend_cpu_by_pid(exclude_ports: set[int]) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the bench database (its autovacuum
    workers included), leaving out those serving ``exclude_ports`` (this process's own
    connections: the progress counting is the harness's, not a delivery's)."""
    found = {}
    for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        if not (proc.info["name"] or "").startswith("postgres"):
            continue
        cmd = " ".join(proc.info["cmdline"] or [])
        if f" {DB_NAME} " not in cmd:
            continue
        port = cmd.partition("127.0.0.1(")[2].partition(")")[0]
        if port.isdigit() and int(port) in exclude_ports:
            continue
        times = proc.info["cpu_times"]
        if times is not None:
            found[proc.pid] = times.user + times.system
    return found


def _own_database_ports() -> set[int]:
    return {
        c.laddr.port
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == 5432
    }


def _redis_cpu() -> float:
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        if (proc.info["name"] or "").startswith("redis-server") and proc.info["cpu_times"]:
            total += proc.info["cpu_times"].user + proc.info["cpu_times"].system
    return total


class CpuMeter:
    """CPU seconds used between ``start`` and ``stop`` by the workers, PostgreSQL, Redis, the
    receiver and this process (the publisher)."""

    def __init__(
        self,
        workers: Workers | ReadmeWorkers | Frontier,
        receiver: Receiver,
        publisher_pids: list[int],
    ) -> None:
        self.workers = workers
        self.receiver = receiver
        self.publisher_pids = publisher_pids

    def sample(self) -> dict[str, float]:
        mine = psutil.Process().cpu_times()
        publisher = mine.user + mine.system + _tree_cpu(self.publisher_pids)
        return {
            "workers": _tree_cpu(self.workers.pids()),
            "postgres": _postgres_cpu(),
            "redis": _redis_cpu(),
            "receiver": _tree_cpu([self.receiver.proc.pid]),
            "publisher": publisher,
        }

    def start(self) -> None:
        self._start = self.sample()
        self._backends = _backend_cpu_by_pid(_own_database_ports())

    def stop(self) -> dict[str, float]:
        end = self.sample()
        used = {k: round(end[k] - self._start[k], 3) for k in end}
        # The bench database's backends alone (``postgres`` adds the server's shared processes,
        # which other databases' work on a shared server also keeps busy). A backend that
        # started meanwhile counts from zero; one that ended meanwhile is lost (the workers'
        # pooled connections live through a run).
        backends = _backend_cpu_by_pid(_own_database_ports())
        used["postgres_backends"] = round(
            sum(cpu - self._backends.get(pid, 0.0) for pid, cpu in backends.items()), 3
        )
        return used


class RssSampler:
    """The largest resident set of any of ``pids`` (worker processes), sampled every 0.2 s."""

    def __init__(self, pids: list[int]) -> None:
        import threading

        self.processes = [psutil.Process(pid) for pid in pids]
        self.max_bytes = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.2):
            for process in self.processes:
                try:
                    self.max_bytes = max(self.max_bytes, process.memory_info().rss)
                except psutil.Error:
                    continue

    def stop(self) -> float:
        """Megabytes."""
        self._done.set()
        self._thread.join()
        return round(self.max_bytes / 2**20, 1)
