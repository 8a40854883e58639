"""The test resolver: names answer from a table, never from a DNS server.

``tests/conftest.py`` installs it in the test process (both seams of ``url_safety``: the
blocking ``resolve`` and the transport's ``resolve_async``); ``tests/subprocess_site`` installs
it in every Python process a test starts through ``tests.workers.worker_env``, from the table
the test had when it started that process.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from endpoints import url_safety

TABLE_ENV = "WEBHOOKS_TEST_DNS"

Table = dict[str, list[str]]
SyncResolve = Callable[[str, int], list[url_safety.IPAddress]]
AsyncResolve = Callable[[str, int], Awaitable[list[url_safety.IPAddress]]]

# The table of the test running now (set by conftest's autouse fixture; read by worker_env).
active_table: Table = {"localhost": ["127.0.0.1"]}


def default_table() -> Table:
    return {"localhost": ["127.0.0.1"]}


def resolvers(table: Table) -> tuple[SyncResolve, AsyncResolve]:
    """``resolve`` and ``resolve_async`` answering from ``table`` (read at each lookup)."""

    def fake_resolve(host: str, port: int) -> list[url_safety.IPAddress]:
        if host not in table:
            raise OSError(f"test resolver: unknown host {host}")
        return [ipaddress.ip_address(a) for a in table[host]]

    async def fake_resolve_async(host: str, port: int) -> list[url_safety.IPAddress]:
        return fake_resolve(host, port)

    return fake_resolve, fake_resolve_async
