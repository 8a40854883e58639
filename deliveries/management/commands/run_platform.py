"""Run the web server, a worker and the scheduler together (the embedded mode of `make run`).

The command supervises its children: one that dies is started again (after a back-off that grows
while it keeps dying young), so a crashed worker never takes the dashboard down with it, and the
reverse. Only a child that cannot stay up at all (five quick deaths in a row, e.g. the port is
taken) stops the platform, with the reason.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand, CommandError

#: A child that ran at least this long had a real life: its next restart comes at once.
HEALTHY_AFTER = 30.0
#: Restart back-off, doubling from the first value to the cap while a child keeps dying young.
BACKOFF_START, BACKOFF_MAX = 1.0, 30.0
#: Quick deaths in a row after which the platform gives up on a child and stops.
MAX_QUICK_DEATHS = 5


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """On Linux, a child started with this gets SIGTERM when ``run_platform`` dies, even by
    SIGKILL, instead of living on as an orphan that holds the port and consumes the broker."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def arrange() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return arrange


@dataclass
class Child:
    name: str
    command: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None
    restarts: int = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603  (our own executables)
            self.command, preexec_fn=_die_with_parent(os.getpid())
        )
        self.started_at = time.monotonic()
        self.restart_at = None

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def schedule_restart(self, now: float) -> float:
        """Count the death and return the delay before the next start."""
        if now - self.started_at >= HEALTHY_AFTER:
            self.quick_deaths = 0
            delay = 0.0
        else:
            self.quick_deaths += 1
            delay = min(BACKOFF_START * 2 ** (self.quick_deaths - 1), BACKOFF_MAX)
        self.restart_at = now + delay
        return delay

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def wait(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Command(BaseCommand):
    help = "Start gunicorn, a Celery worker and beat; restart one that dies; Ctrl-C stops all."

    def add_arguments(self, parser: Any) -> None:
        port = os.environ.get("PORT", "8000")
        parser.add_argument("--bind", default=f"127.0.0.1:{port}", help="host:port (or PORT=)")

    def handle(self, *args: Any, **options: Any) -> None:
        from webhooks_platform.metrics import multiprocess_dir_reset

        # Samples of a previous run's processes would otherwise be added to this run's counters.
        multiprocess_dir_reset()
        children = self._children(options["bind"])
        for child in children:
            child.start()
        self.stdout.write(f"Dashboard and API on http://{options['bind']}/ ; Ctrl-C stops all.")

        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        failure: str | None = None
        try:
            while not stopping and failure is None:
                failure = self._supervise(children)
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                child.stop()
            for child in children:
                child.wait()
        if failure:
            raise CommandError(failure)

    def _supervise(self, children: list[Child]) -> str | None:
        """Restart what died; a message when a child cannot be kept up."""
        now = time.monotonic()
        for child in children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    child.start()
                    self.stderr.write(f"{child.name} restarted (restart {child.restarts})")
                continue
            code = child.exited()
            if code is None:
                continue
            delay = child.schedule_restart(now)
            if child.quick_deaths >= MAX_QUICK_DEATHS:
                return (
                    f"{child.name} exited with code {code} {child.quick_deaths} times in a row "
                    f"within {HEALTHY_AFTER:.0f} s of starting; see its output above"
                )
            self.stderr.write(
                f"{child.name} exited with code {code}; restarting it in {delay:.0f} s"
            )
        return None

    def _children(self, bind: str) -> list[Child]:
        python = sys.executable
        bindir = os.path.dirname(python)
        gunicorn = [os.path.join(bindir, "gunicorn"), "webhooks_platform.wsgi", "--bind", bind]
        return [
            Child(
                "web",
                [*gunicorn, "--workers", "2", "--threads", "4", "--access-logfile", "-"],
            ),
            Child(
                "worker",
                [python, "-m", "celery", "-A", "webhooks_platform", "worker", "--beat"]
                + ["--loglevel", "INFO"],
            ),
        ]
