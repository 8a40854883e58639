"""A private PostgreSQL primary and a streaming replica of it, in a temporary directory.

``primary_and_replica()`` runs ``initdb`` for a primary on a free port of 127.0.0.1 (trust
authentication, replication allowed from 127.0.0.1 only), makes the replica with
``pg_basebackup -R`` from it, starts the replica on another free port, and removes both at the
end. Nothing of the machine's own PostgreSQL (its clusters, configuration or data) is touched.
PostgreSQL will not run as root: as root, the servers run as ``postgres``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.workers import free_port


def bindir() -> Path | None:
    """The newest PostgreSQL server programs installed (Debian keeps them out of PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass(frozen=True)
class Pair:
    primary_port: int
    replica_port: int

    def url(self, port: int, name: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{name}"


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


def _start(pg: Path, data: Path, port: int) -> None:
    _run(
        [str(pg / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w", "-t", "60"]
        + ["-o", f"-p {port} -c listen_addresses=127.0.0.1 -k {data}", "start"]
    )


def _stop(pg: Path, data: Path) -> None:
    if (data / "postmaster.pid").exists():
        with contextlib.suppress(subprocess.CalledProcessError):
            _run([str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])


@contextlib.contextmanager
def primary_and_replica() -> Iterator[Pair]:
    pg = bindir()
    if pg is None:
        raise RuntimeError("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    with tempfile.TemporaryDirectory(prefix="pg-pair-") as tmp:
        root = Path(tmp)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(root, owner.pw_uid, owner.pw_gid)
        primary, replica = root / "primary", root / "replica"
        primary_port, replica_port = free_port(), free_port()
        _run(
            [str(pg / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust"]
            + ["--no-sync", "-E", "UTF8", "--locale=C"]
        )
        with open(primary / "postgresql.conf", "a") as conf:
            conf.write(
                "wal_level = replica\nmax_wal_senders = 4\nfsync = off\n"
                "synchronous_commit = off\nfull_page_writes = off\n"
            )
        with open(primary / "pg_hba.conf", "w") as hba:
            hba.write(
                "local all all trust\nhost all all 127.0.0.1/32 trust\n"
                "host replication all 127.0.0.1/32 trust\n"
            )
        try:
            _start(pg, primary, primary_port)
            _run(
                [str(pg / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary_port)]
                + ["-U", "postgres", "-D", str(replica), "-R", "-X", "stream", "--no-sync"]
            )
            _start(pg, replica, replica_port)
            yield Pair(primary_port=primary_port, replica_port=replica_port)
        finally:
            _stop(pg, replica)
            _stop(pg, primary)
