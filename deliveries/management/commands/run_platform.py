"""Run the web server, a worker and the scheduler together (the embedded mode of `make run`)."""

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start gunicorn, a Celery worker and Celery beat; stop them all on Ctrl-C."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        from webhooks_platform.metrics import multiprocess_dir_reset

        # Samples of a previous run's processes would otherwise be added to this run's counters.
        multiprocess_dir_reset()
        python = sys.executable
        bindir = os.path.dirname(python)
        commands = {
            "web": [
                os.path.join(bindir, "gunicorn"),
                "webhooks_platform.wsgi",
                "--bind",
                options["bind"],
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "webhooks_platform",
                "worker",
                "--beat",
                "--loglevel",
                "INFO",
            ],
        }
        procs = {
            name: subprocess.Popen(cmd)  # noqa: S603  (our own executables)
            for name, cmd in commands.items()
        }
        self.stdout.write(f"Dashboard and API on http://{options['bind']}/ ; Ctrl-C stops all.")

        def stop(*_: object) -> None:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.terminate()

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(p.poll() is None for p in procs.values()):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            for proc in procs.values():
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        failed = [n for n, p in procs.items() if p.returncode not in (0, -signal.SIGTERM, None)]
        if failed:
            self.stderr.write(f"stopped because {', '.join(failed)} exited")
