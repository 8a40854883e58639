"""Run the delivery worker on every core: ``python manage.py run_worker``.

One Celery worker process runs one delivery engine, and one engine is one Python process: on a
machine with several cores it leaves all but one idle. This command starts
``WEBHOOKS_WORKER_PROCESSES`` Celery workers (``--processes``; by default one per core the
process may run on, one on the embedded SQLite database, whose single writer gains nothing from
more), each a threads-pool worker with its own engine, and supervises them:

- a child that dies is started again (``platform_core.supervisor``); the deliveries it had
  claimed come back when their lease expires, as after any crash;
- SIGTERM or Ctrl-C stops them all with Celery's warm shutdown: requests in flight finish and are
  recorded, for up to the attempt timeout and 10 s more, before what is left is killed;
- the children die with it if it is killed outright.

Arguments after ``--`` go to every ``celery worker`` (``-- -Q webhooks.deliver``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from platform_core.conf import webhooks_settings
from platform_core.supervisor import Child, supervise


def worker_processes() -> int:
    """How many worker processes to start: the setting, or one per usable core (one on SQLite)."""
    configured = int(settings.WEBHOOKS_WORKER_PROCESSES)
    if configured > 0:
        return configured
    if connection.vendor == "sqlite":
        return 1
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def worker_stop_timeout() -> float:
    """How long a warm shutdown may take: the engine waits up to the attempt timeout and 5 s."""
    return webhooks_settings().attempt_timeout + 10


def worker_children(
    celery_args: list[str], *, processes: int | None = None, beat: bool = False
) -> list[Child]:
    """``processes`` Celery workers (the setting's count by default); the first runs beat too
    when ``beat``. Each gets its own node name unless ``celery_args`` names one."""
    count = processes or worker_processes()
    named = any(a in ("-n", "--hostname") or a.startswith("--hostname=") for a in celery_args)
    children = []
    for i in range(1, count + 1):
        command = [sys.executable, "-m", "celery", "-A", "webhooks_platform", "worker"]
        if not named:
            command += ["--hostname", f"worker{i}@%h"]
        if beat and i == 1:
            command.append("--beat")
        children.append(Child("worker" if count == 1 else f"worker-{i}", command + celery_args))
    return children


class Command(BaseCommand):
    help = (
        "Start one Celery worker (with its delivery engine) per core, or --processes; restart "
        "one that dies; SIGTERM or Ctrl-C stops all after their requests in flight."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--processes",
            type=int,
            default=None,
            help="worker processes (default: WEBHOOKS_WORKER_PROCESSES, else one per core)",
        )
        parser.add_argument(
            "--beat", action="store_true", help="the first worker runs the scheduler too"
        )
        parser.add_argument(
            "--loglevel", default="INFO", help="Celery's log level for every worker (INFO)"
        )
        parser.add_argument(
            "celery_args",
            nargs=argparse.REMAINDER,
            help="after --: arguments for every `celery worker`",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        processes = options["processes"]
        if processes is not None and processes < 1:
            raise CommandError("--processes must be at least 1")
        extra = list(options["celery_args"] or [])
        if extra[:1] == ["--"]:
            extra = extra[1:]
        children = worker_children(
            ["--loglevel", options["loglevel"], *extra], processes=processes, beat=options["beat"]
        )
        self.stdout.write(f"Starting {len(children)} worker process(es); SIGTERM stops all.")
        self.stdout.flush()
        failure = supervise(children, self.stderr, stop_timeout=worker_stop_timeout())
        if failure:
            raise CommandError(failure)
