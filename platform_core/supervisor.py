"""Child processes kept alive: what ``run_platform`` and ``run_worker`` share.

A child that dies is started again, after a back-off that grows while it keeps dying young; one
that cannot stay up at all (five quick deaths in a row, e.g. a port that is taken) is reported so
that its supervisor can stop with the reason. On Linux a child gets SIGTERM when its supervisor
dies, even by SIGKILL, instead of living on as an orphan that holds a port and consumes the broker.
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
from typing import TextIO

#: A child that ran at least this long had a real life: its next restart comes at once.
HEALTHY_AFTER = 30.0
#: Restart back-off, doubling from the first value to the cap while a child keeps dying young.
BACKOFF_START, BACKOFF_MAX = 1.0, 30.0
#: Quick deaths in a row after which a supervisor gives up on a child and stops.
MAX_QUICK_DEATHS = 5

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> Callable[[], None] | None:
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

    def wait(self, timeout: float = 15) -> None:
        """Wait for the child to finish after ``stop``; SIGKILL it after ``timeout`` seconds."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def supervise_once(children: list[Child], err: TextIO) -> str | None:
    """Restart what died; a message when a child cannot be kept up."""
    now = time.monotonic()
    for child in children:
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restarts += 1
                child.start()
                err.write(f"{child.name} restarted (restart {child.restarts})\n")
                err.flush()
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
        err.write(f"{child.name} exited with code {code}; restarting it in {delay:.0f} s\n")
        err.flush()
    return None


def supervise(children: list[Child], err: TextIO, *, stop_timeout: float = 15) -> str | None:
    """Start ``children`` and keep them up until SIGTERM, SIGINT or a child that cannot stay up;
    then stop them all (SIGTERM, SIGKILL after ``stop_timeout``). Returns the failure, if any."""
    for child in children:
        child.start()
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, stop)
    failure: str | None = None
    try:
        while not stopping and failure is None:
            failure = supervise_once(children, err)
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for child in children:
            child.stop()
        deadline = time.monotonic() + stop_timeout
        for child in children:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
    return failure
