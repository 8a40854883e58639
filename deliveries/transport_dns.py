"""The transport's name lookups: the pinned resolver that connects only to checked addresses,
and the bounds on lookups in progress per endpoint, tenant and process (see ``transport``)."""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult

from endpoints import url_safety


class _Slots:
    """At most ``limit`` holders per key (an endpoint, a tenant); a key's semaphore lives only
    while someone holds or waits for it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._by_key: dict[str, list[Any]] = {}  # key -> [semaphore, holders and waiters]

    async def acquire(self, key: str) -> None:
        entry = self._by_key.get(key)
        if entry is None:
            entry = self._by_key[key] = [asyncio.Semaphore(self.limit), 0]
        entry[1] += 1
        try:
            await entry[0].acquire()
        except BaseException:
            self._leave(key, entry)
            raise

    def release(self, key: str) -> None:
        entry = self._by_key[key]
        entry[0].release()
        self._leave(key, entry)

    def _leave(self, key: str, entry: list[Any]) -> None:
        entry[1] -= 1
        if entry[1] == 0:
            del self._by_key[key]


class PinnedResolver(AbstractResolver):
    """Answers only with addresses that ``_send_one`` resolved and checked for that host.

    Lookups (``lookup``) go through ``url_safety.resolve_async`` (c-ares): they wait on the
    event loop and hold no thread, so slow names cost a pending query each and nothing that
    other endpoints need. Still, each is bounded three ways: at most ``PER_ENDPOINT`` lookups
    in flight for one endpoint, ``PER_TENANT`` for one tenant and ``TOTAL`` in all; requests to
    the same host share the lookup in progress. A lookup that outlives its attempt's timeout is
    abandoned by the attempt (recorded as a DNS timeout) and ends on its own within one more
    timeout.

    A name that failed to resolve (no such name, no answer in time) is remembered for the
    options' ``dns_failure_ttl`` seconds: attempts in that window fail at once with the same
    error instead of waiting again. Answers are never kept past their attempt: every attempt
    checks the addresses of a lookup of its own (DNS rebinding).
    """

    PER_ENDPOINT = 4
    PER_TENANT = 32
    TOTAL = 512
    MAX_REMEMBERED_FAILURES = 10_000

    def __init__(self) -> None:
        self.pinned: dict[str, list[url_safety.IPAddress]] = {}
        self._failures: dict[str, tuple[float, type[OSError]]] = {}  # host -> (until, kind)
        self.forget_lookups()

    def forget_lookups(self) -> None:
        """Drop what belongs to an event loop (a new loop cannot await the old one's)."""
        self._lookups: dict[tuple[str, int], asyncio.Future[list[url_safety.IPAddress]]] = {}
        self._endpoint_slots = _Slots(self.PER_ENDPOINT)
        self._tenant_slots = _Slots(self.PER_TENANT)
        self._total_slots = _Slots(self.TOTAL)

    def forget_failures(self) -> None:
        self._failures.clear()

    async def lookup(
        self,
        host: str,
        port: int,
        *,
        endpoint: str,
        tenant: str,
        timeout: float,
        failure_ttl: float,
    ) -> list[url_safety.IPAddress]:
        failed = self._failures.get(host)
        if failed is not None and failed[0] > time.monotonic():
            raise failed[1](f"{host}: failed to resolve moments ago")
        key = (host, port)
        future = self._lookups.get(key)
        if future is None:
            future = asyncio.ensure_future(
                self._bounded_lookup(host, port, endpoint, tenant, timeout, failure_ttl)
            )
            self._lookups[key] = future
            future.add_done_callback(functools.partial(self._lookup_done, key))
        # One waiter giving up (its timeout) must not cancel the lookup the others share.
        return await asyncio.shield(future)

    def _lookup_done(
        self, key: tuple[str, int], future: asyncio.Future[list[url_safety.IPAddress]]
    ) -> None:
        if self._lookups.get(key) is future:
            del self._lookups[key]
        if not future.cancelled():
            future.exception()  # retrieved: its waiters may all have given up already

    async def _bounded_lookup(
        self, host: str, port: int, endpoint: str, tenant: str, timeout: float, failure_ttl: float
    ) -> list[url_safety.IPAddress]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        held: list[tuple[_Slots, str]] = []
        try:
            # Waiting for a slot is bounded by the attempt's timeout, and is no failure of the
            # name's: it is not remembered.
            bounds = ((self._endpoint_slots, endpoint), (self._tenant_slots, tenant))
            for slots, slot_key in (*((b, k) for b, k in bounds if k), (self._total_slots, "")):
                await asyncio.wait_for(slots.acquire(slot_key), max(0.0, deadline - loop.time()))
                held.append((slots, slot_key))
            try:
                return await asyncio.wait_for(url_safety.resolve_async(host, port), timeout)
            except TimeoutError:
                self._remember_failure(host, TimeoutError, failure_ttl)
                raise
            except (OSError, UnicodeError):
                self._remember_failure(host, url_safety.DNSLookupError, failure_ttl)
                raise
        finally:
            for slots, slot_key in held:
                slots.release(slot_key)

    def _remember_failure(self, host: str, kind: type[OSError], ttl: float) -> None:
        if ttl <= 0:
            return
        now = time.monotonic()
        if len(self._failures) >= self.MAX_REMEMBERED_FAILURES:
            self._failures = {h: f for h, f in self._failures.items() if f[0] > now}
            while len(self._failures) >= self.MAX_REMEMBERED_FAILURES:
                self._failures.pop(next(iter(self._failures)))
        self._failures.pop(host, None)
        self._failures[host] = (now + ttl, kind)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self.pinned.get(host)
        if not addresses:
            raise OSError(f"{host} was not checked before connecting")
        return [
            ResolveResult(
                hostname=host,
                host=str(a),
                port=port,
                family=socket.AF_INET if a.version == 4 else socket.AF_INET6,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for a in addresses
        ]

    async def close(self) -> None:
        return None
