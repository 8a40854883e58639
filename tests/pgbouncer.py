"""Debian's PgBouncer in transaction mode in front of the PostgreSQL server the tests use.

``python -m tests.pgbouncer -- COMMAND...`` starts a private PgBouncer (its own configuration,
log and pid file in a temporary directory; a free port on 127.0.0.1; nothing of the system's
PostgreSQL or PgBouncer configuration is read or changed), runs COMMAND with ``DATABASE_URL``
pointed at it, and stops it. CI runs the end-to-end suite so: every statement the web process,
the workers and the tests send goes through a pooler that hands each *transaction* a possibly
different server connection, so anything that leans on session state (``LISTEN``, a session
advisory lock, a plain ``SET``, a cursor held across transactions) breaks there.

pytest-django's test database is created through the pooler (``--create-db``) and kept at the
end (``--reuse-db``: PgBouncer still holds idle server connections to it, which a plain
``DROP DATABASE`` would wait on); it is dropped afterwards, directly on the server, with
``FORCE``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.workers import free_port, wait_for_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"

CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/userlist.txt
admin_users = {user}
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
logfile = {dir}/pgbouncer.log
pidfile = {dir}/pgbouncer.pid
"""


def available() -> bool:
    return os.path.exists(PGBOUNCER)


@contextlib.contextmanager
def pgbouncer(
    *, host: str = "127.0.0.1", port: int = 5432, user: str = "postgres"
) -> Iterator[int]:
    """A PgBouncer in transaction mode in front of ``host:port``; yields the port it listens on.

    PgBouncer will not run as root: as root it is started with ``-u postgres`` and its directory
    is given to that user."""
    with tempfile.TemporaryDirectory(prefix="pgbouncer-") as tmp:
        listen_port = free_port()
        directory = Path(tmp)
        (directory / "userlist.txt").write_text(f'"{user}" ""\n')
        (directory / "pgbouncer.ini").write_text(
            CONFIG.format(host=host, port=port, listen_port=listen_port, dir=tmp, user=user)
        )
        args = [PGBOUNCER, str(directory / "pgbouncer.ini")]
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (directory, *directory.iterdir()):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            args[1:1] = ["-u", "postgres"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            if not wait_for_port(listen_port, timeout=20):
                log = directory / "pgbouncer.log"
                raise RuntimeError(
                    f"pgbouncer did not start:\n{log.read_text() if log.exists() else ''}"
                )
            yield listen_port
        finally:
            proc.send_signal(signal.SIGINT)  # shut down at once, closing server connections
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _drop_test_database(url: str) -> None:
    parts = urlsplit(url)
    name = "test_" + parts.path.lstrip("/")
    user = parts.username or "postgres"
    subprocess.run(
        ["psql", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", user]
        + ["-d", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
        check=False,
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")) or not argv:
        print(
            "usage: DATABASE_URL=postgres://... python -m tests.pgbouncer -- COMMAND",
            file=sys.stderr,
        )
        return 2
    parts = urlsplit(url)
    with pgbouncer(host=parts.hostname or "127.0.0.1", port=parts.port or 5432) as port:
        env = dict(os.environ, DATABASE_URL=_through(url, port))
        print(
            f"PgBouncer (transaction mode) on 127.0.0.1:{port} in front of {parts.port}", flush=True
        )
        code = subprocess.run(argv, env=env, check=False).returncode
        # What went through it, as PgBouncer counts it: proof the run did not go around it.
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "pgbouncer"]
            + ["-c", "SHOW STATS"],
            check=False,
        )
    _drop_test_database(url)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
