"""The embedded mode's broker: a kombu transport that keeps its queues in one SQLite file.

Why not kombu's ``filesystem://``: it writes a message by creating the file and then writing
into it, and a reader can move and read the file in between, so under a steady stream from a
second process the worker reads an empty or partial message, fails with ``JSONDecodeError`` and
stops ("Unrecoverable error"). Why not kombu's SQLAlchemy transport: it needs SQLAlchemy and
keeps every delivered message in its table for ever (it only marks them invisible).

Here every operation is one SQLite statement, hence one transaction: a message is either absent
or complete, and ``DELETE ... RETURNING`` hands each message to exactly one reader. The file is
in WAL mode with a busy timeout, so publishers in other processes (``publish_event`` from product
code, ``manage.py``) wait their turn instead of failing. Delivered messages are deleted. Fanout
exchanges (Celery's remote control) keep their bindings in a table, so ``celery inspect`` reaches
workers in other processes.

The database stays the source of truth: a message lost here costs a sweep interval, not a
delivery. Production uses Redis (``CELERY_BROKER_URL=redis://...``).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, virtual
from kombu.utils.json import dumps, loads

SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS message_queue_id ON message (queue, id);
CREATE TABLE IF NOT EXISTS binding (
    exchange TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    pattern TEXT NOT NULL,
    queue TEXT NOT NULL,
    PRIMARY KEY (exchange, queue, routing_key, pattern)
);
"""

#: Seconds a statement waits for another process's write to finish before it fails.
BUSY_TIMEOUT = 30.0


def database_path(url_path: str | None, options: dict[str, Any]) -> Path:
    """The file from the URL (``sqlite:////abs/broker.sqlite3``, ``sqlite:///relative.sqlite3``)
    or, for a bare ``sqlite://``, the ``path`` transport option (the settings' default)."""
    if url_path and url_path != "/":
        return Path(url_path)
    path = options.get("path")
    if not path:
        raise ValueError("sqlite broker: give a path, sqlite:////abs/broker.sqlite3")
    return Path(path)


class Channel(virtual.Channel):
    supports_fanout = True

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        client = self.connection.client
        path = database_path(client.virtual_host, client.transport_options)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level=None): each statement below is its own transaction.
        self._db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        self._execute("INSERT INTO message (queue, payload) VALUES (?, ?)", (queue, dumps(message)))

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        rows = self._execute(
            "DELETE FROM message WHERE id = "
            "(SELECT id FROM message WHERE queue = ? ORDER BY id LIMIT 1) RETURNING payload",
            (queue,),
        )
        if not rows:
            raise Empty()
        return loads(rows[0][0])

    def _size(self, queue: str) -> int:
        return self._execute("SELECT count(*) FROM message WHERE queue = ?", (queue,))[0][0]

    def _purge(self, queue: str) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM message WHERE queue = ?", (queue,)).rowcount

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self._execute("DELETE FROM binding WHERE queue = ?", (queue,))
        self._purge(queue)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        self._execute(
            "INSERT OR IGNORE INTO binding (exchange, routing_key, pattern, queue) "
            "VALUES (?, ?, ?, ?)",
            (exchange, routing_key or "", pattern or "", queue),
        )

    def get_table(self, exchange: str) -> list[tuple[str, str, str]]:
        if self.typeof(exchange).type != "fanout":
            return super().get_table(exchange)
        return self._execute(
            "SELECT routing_key, pattern, queue FROM binding WHERE exchange = ?", (exchange,)
        )

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str, **kw: Any):
        for _, _, queue in self.get_table(exchange):
            self._put(queue, message)

    def close(self) -> None:
        super().close()
        with self._lock:
            self._db.close()


class Transport(virtual.Transport):
    Channel = Channel
    default_port = 0
    driver_type = "sqlite"
    driver_name = "sqlite3"
    # A locked or unreadable file is a connection problem: the worker reconnects, it does not stop.
    connection_errors = (*virtual.Transport.connection_errors, sqlite3.OperationalError)
    channel_errors = (*virtual.Transport.channel_errors, sqlite3.DatabaseError)
    implements = virtual.Transport.implements.extend(
        exchange_type=frozenset(["direct", "topic", "fanout"])
    )

    def driver_version(self) -> str:
        return sqlite3.sqlite_version


def register() -> None:
    """Make ``sqlite://`` a broker URL kombu understands."""
    TRANSPORT_ALIASES.setdefault("sqlite", f"{__name__}:Transport")
