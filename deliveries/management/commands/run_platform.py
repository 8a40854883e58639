"""Run the web server, a worker and the scheduler together (the embedded mode of `make run`).

The command supervises its children: one that dies is started again (after a back-off that grows
while it keeps dying young), so a crashed worker never takes the dashboard down with it, and the
reverse. Only a child that cannot stay up at all (five quick deaths in a row, e.g. the port is
taken) stops the platform, with the reason.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from platform_core.supervisor import Child, supervise

from .run_worker import worker_children, worker_stop_timeout


class Command(BaseCommand):
    help = "Start gunicorn, a Celery worker and beat; restart one that dies; Ctrl-C stops all."

    def add_arguments(self, parser: Any) -> None:
        port = os.environ.get("PORT", "8000")
        parser.add_argument("--bind", default=f"127.0.0.1:{port}", help="host:port (or PORT=)")

    def handle(self, *args: Any, **options: Any) -> None:
        from platform_core.metrics import multiprocess_dir_reset

        # Samples of a previous run's processes would otherwise be added to this run's counters.
        multiprocess_dir_reset()
        children = self._children(options["bind"])
        self.stdout.write(f"Dashboard and API on http://{options['bind']}/ ; Ctrl-C stops all.")
        self.stdout.flush()
        failure = supervise(children, self.stderr, stop_timeout=worker_stop_timeout())
        if failure:
            raise CommandError(failure)

    def _children(self, bind: str) -> list[Child]:
        python = sys.executable
        bindir = os.path.dirname(python)
        gunicorn = [os.path.join(bindir, "gunicorn"), "webhooks_platform.wsgi", "--bind", bind]
        return [
            Child(
                "web",
                [*gunicorn, "--workers", "2", "--threads", "4", "--access-logfile", "-"],
            ),
            # The first worker runs the scheduler too (beat: exactly one).
            *worker_children(["--loglevel", "INFO"], beat=True),
        ]
