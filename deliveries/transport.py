"""The one place that makes outbound HTTP to customers' URLs.

Each process has one ``Sender``: an aiohttp session on an event loop in a helper thread, keeping
connections alive. The engine ``launch``es the requests it may start now and takes one result per
request from its queue as each finishes. Every request:

- is re-checked against the address rules (``endpoints.url_safety``) after resolving its host,
  and connects only to the addresses that were checked (a pinned resolver; no second lookup that
  DNS rebinding could change), with TLS certificate and hostname verification left on;
- has a total timeout, never follows redirects, and captures at most ``body_limit`` bytes of the
  response.

It writes nothing to the database and imports nothing from Django.
"""

from __future__ import annotations

import asyncio
import functools
import os
import queue
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from endpoints import url_safety

from .transport_dns import PinnedResolver as _PinnedResolver

USER_AGENT = "webhooks-platform/0.1 (+https://www.standardwebhooks.com/)"


@dataclass(frozen=True)
class OutboundRequest:
    key: Any  # the caller's handle for the result (a delivery id)
    url: str
    headers: dict[str, str]
    body: bytes
    group: str = ""  # the endpoint it goes to
    tenant: str = ""  # the endpoint's tenant (bounds its DNS lookups with its other endpoints')
    # The ranges this request may reach instead of the options' (an operators' endpoint).
    allowed_subnets: tuple[url_safety.Network, ...] | None = None
    method: str = "POST"  # another only when a transformation chose it


@dataclass
class AttemptResult:
    key: Any
    started_at: datetime
    duration_ms: int
    status: int = 0  # 0: no response
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    error: str = ""

    @property
    def retry_after(self) -> str | None:
        return self.response_headers.get("retry-after")


@dataclass(frozen=True)
class TransportOptions:
    timeout: float
    allowed_subnets: tuple[url_safety.Network, ...]
    body_limit: int = 20_000
    require_https: bool = False
    # Seconds a name that failed to resolve is not looked up again (0: always look it up).
    dns_failure_ttl: float = 30.0


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"tls certificate error: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "tls error"
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(os_error, socket.gaierror):
            return "dns error: host not found"
        return f"connection error: {os_error.strerror or os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection closed by server"
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return f"invalid response: {exc.__class__.__name__}"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, aiohttp.ClientError | OSError):
        return f"connection error: {exc.__class__.__name__}"
    return f"error: {exc.__class__.__name__}"


def _clean_text(value: str) -> str:
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


async def _resolve_checked(
    host: str,
    port: int,
    request: OutboundRequest,
    options: TransportOptions,
    allowed: tuple[url_safety.Network, ...],
    resolver: _PinnedResolver,
) -> list[url_safety.IPAddress]:
    addresses = await resolver.lookup(
        host,
        port,
        endpoint=str(request.group),
        tenant=str(request.tenant),
        timeout=options.timeout,
        failure_ttl=options.dns_failure_ttl,
    )
    if not addresses:
        raise OSError("no addresses")
    _addresses_checked(host, tuple(addresses), allowed)
    return addresses


@functools.lru_cache(maxsize=4096)
def _target(url: str, require_https: bool) -> tuple[str, int, url_safety.IPAddress | None, URL]:
    """Host, port, the host's address when it is an IP literal, and the parsed URL: worked out
    once per URL (``check_url_shape`` depends on nothing else), not on every request. The
    addresses the host resolves to are still checked on every attempt."""
    _, host, port = url_safety.check_url_shape(url, require_https=require_https)
    return host, port, url_safety.parse_ip_literal(host), URL(url)


@functools.lru_cache(maxsize=4096)
def _addresses_checked(
    host: str,
    addresses: tuple[url_safety.IPAddress, ...],
    allowed: tuple[url_safety.Network, ...],
) -> None:
    """``check_addresses``, remembered for the same host, addresses and allowed ranges (its
    answer depends on nothing else). A refusal raises, and is never remembered."""
    url_safety.check_addresses(host, addresses, allowed)


async def _connect_and_post(
    request: OutboundRequest,
    session: aiohttp.ClientSession,
    resolver: _PinnedResolver,
    options: TransportOptions,
    result: AttemptResult,
) -> None:
    try:
        host, port, literal, url = _target(request.url, options.require_https)
        allowed = (
            options.allowed_subnets if request.allowed_subnets is None else request.allowed_subnets
        )
        if literal is not None:  # nothing to look up, so no timer to arm
            addresses = [literal]
            _addresses_checked(host, (literal,), allowed)
        else:
            try:
                addresses = await asyncio.wait_for(
                    _resolve_checked(host, port, request, options, allowed, resolver),
                    timeout=options.timeout,
                )
            except asyncio.CancelledError:
                # Ended at the attempt's deadline (or the loop is closing): still looking up.
                result.error = "timeout: dns lookup"
                raise
    except url_safety.UnsafeURL as exc:
        result.error = f"blocked: {exc}"
        return
    except TimeoutError:  # before OSError, of which it is a subclass
        result.error = "timeout: dns lookup"
        return
    except (OSError, UnicodeError):
        result.error = "dns error: host not found"
        return
    resolver.pinned[host] = addresses
    # No timeout of aiohttp's here: the sender's deadline sweep (``Sender._expire``) ends the
    # request at the attempt's timeout without a timer per request.
    async with session.request(
        request.method, url, data=request.body, headers=request.headers, allow_redirects=False
    ) as response:
        result.status = response.status
        result.response_headers = stored_headers(response.headers.items())
        try:
            result.response_body = await _read_limited(response, options.body_limit)
        except (TimeoutError, aiohttp.ClientError) as exc:
            # The status arrived; a body cut short does not change the outcome.
            result.error = f"response body incomplete: {_error_text(exc)}"


MAX_STORED_HEADERS = 50
MAX_STORED_HEADER_BYTES = 16 * 1024
MAX_STORED_HEADER_VALUE = 2048
TRUNCATED_HEADER = "x-webhooks-headers-not-stored"
# Kept whatever the caps: the retry policy reads it.
_ALWAYS_KEPT = frozenset({"retry-after"})


def stored_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Response headers as an attempt stores them: at most 50, 16 kB in all, 2 kB a value.

    A receiver (or whatever sits in front of it) may answer with a megabyte of headers; the
    attempt log keeps what helps debugging and says how many were left out. Bytes that are not
    UTF-8 arrive as lone surrogates, which neither JSON output nor PostgreSQL's jsonb accept:
    they are stored as U+FFFD.
    """
    out: dict[str, str] = {}
    size = dropped = 0
    for raw_name, raw_value in items:
        # ASCII (nearly every header) holds no lone surrogate: nothing to clean.
        key = (raw_name if raw_name.isascii() else _clean_text(raw_name)).lower()
        value = raw_value if raw_value.isascii() else _clean_text(raw_value)
        if len(value) > MAX_STORED_HEADER_VALUE:
            value = value[:MAX_STORED_HEADER_VALUE] + "…"
        previous = out.get(key)
        merged = value if previous is None else f"{previous}, {value}"
        grows = len(merged) - len(previous or "") + (0 if previous is not None else len(key))
        full = len(out) >= MAX_STORED_HEADERS or size + grows > MAX_STORED_HEADER_BYTES
        if full and key not in _ALWAYS_KEPT:
            dropped += 1
            continue
        out[key] = merged[: MAX_STORED_HEADER_VALUE * 2]
        size += grows
    if dropped:
        out[TRUNCATED_HEADER] = f"{dropped} more headers were not stored"
    return out


async def _send_one(
    request: OutboundRequest,
    session: aiohttp.ClientSession,
    resolver: _PinnedResolver,
    options: TransportOptions,
    expired: set[asyncio.Task[Any]],
) -> AttemptResult:
    """Send one request. ``expired``: tasks the sender cancelled at their deadline; such a
    cancellation is this attempt's timeout, any other propagates."""
    t0 = time.perf_counter()
    result = AttemptResult(key=request.key, started_at=datetime.now(UTC), duration_ms=0)
    try:
        await _connect_and_post(request, session, resolver, options, result)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is None or task not in expired:
            raise
        expired.discard(task)
        task.uncancel()
        if not result.error:
            # The status arrived; a body cut short does not change the outcome.
            result.error = "response body incomplete: timeout" if result.status else "timeout"
    except Exception as exc:  # noqa: BLE001  every failure becomes a recorded attempt
        result.error = _error_text(exc)
    finally:
        result.duration_ms = int((time.perf_counter() - t0) * 1000)
    return result


class Sender:
    """One long-lived aiohttp session and event loop per process, in a helper thread.

    The engine ``launch``es requests it has already decided may start (its windows cap each
    endpoint's concurrency); one ``AttemptResult`` per request comes back on the queue it gave.
    Connections are kept alive across requests.
    """

    def __init__(self, *, max_connections: int = 500) -> None:
        self.max_connections = max_connections
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_lock = threading.Lock()
        self._session: aiohttp.ClientSession | None = None
        self._resolver = _PinnedResolver()
        # Requests in flight by deadline (loop time), swept by one timer instead of one per
        # request; those cancelled at their deadline wait in ``_expired`` for their result.
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()

    # --- the loop ---------------------------------------------------------------------------
    def _ensure_started(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._started.clear()
                self._thread = threading.Thread(
                    target=self._run_loop, name="webhooks-sender", daemon=True
                )
                self._thread.start()
                self._started.wait()
        assert self._loop is not None  # noqa: S101  (set by the thread before _started)
        return self._loop

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._resolver.forget_lookups()  # futures of a previous loop cannot be awaited here
        self._session = loop.run_until_complete(self._open_session())
        self._loop = loop
        self._deadlines.clear()
        self._expired.clear()
        loop.call_later(self.EXPIRE_EVERY, self._expire)
        self._started.set()
        loop.run_forever()

    #: How often requests past their deadline are ended: an attempt's timeout is kept to within
    #: this much, for one timer in all rather than one armed and cancelled per request.
    EXPIRE_EVERY = 0.05

    def _expire(self) -> None:
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        for task, deadline in list(self._deadlines.items()):
            if deadline <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        loop.call_later(self.EXPIRE_EVERY, self._expire)

    async def _open_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=self._resolver,
            use_dns_cache=False,
            limit=self.max_connections,
            limit_per_host=0,
            enable_cleanup_closed=True,
        )
        return aiohttp.ClientSession(
            connector=connector,
            # Timeouts are the sender's (``_expire``), not a timer per request in aiohttp.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None),
            headers={"User-Agent": USER_AGENT},
            skip_auto_headers=("Accept-Encoding",),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    def forget_dns_failures(self) -> None:
        """Look every name up again from now on (names remembered as failing are forgotten)."""
        loop = self._loop
        if loop is not None and self._thread is not None and self._thread.is_alive():
            # On the loop's thread, ahead of anything launched after this call.
            loop.call_soon_threadsafe(self._resolver.forget_failures)
        else:
            self._resolver.forget_failures()

    # --- launching ----------------------------------------------------------------------------
    def launch(
        self,
        requests: Sequence[OutboundRequest],
        options: TransportOptions,
        out: queue.Queue[Any],
    ) -> None:
        """Start every request at once; one ``AttemptResult`` per request arrives on ``out``.

        No cap here: the caller already decided how many requests each endpoint may have in
        flight, and hands over only what may start now.
        """
        if not requests:
            return
        loop = self._ensure_started()
        loop.call_soon_threadsafe(self._launch_all, list(requests), options, out)

    def _launch_all(
        self, requests: list[OutboundRequest], options: TransportOptions, out: queue.Queue[Any]
    ) -> None:
        for request in requests:
            asyncio.ensure_future(self._launched(request, options, out))

    async def _launched(
        self, request: OutboundRequest, options: TransportOptions, out: queue.Queue[Any]
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._deadlines[task] = asyncio.get_running_loop().time() + options.timeout
        try:
            assert self._session is not None  # noqa: S101
            result = await _send_one(request, self._session, self._resolver, options, self._expired)
        except BaseException as exc:  # noqa: BLE001  a result is owed for every request
            result = AttemptResult(
                key=request.key, started_at=datetime.now(UTC), duration_ms=0, error=_error_text(exc)
            )
        finally:
            if task is not None:
                self._deadlines.pop(task, None)
                self._expired.discard(task)
        out.put(result)


_sender: Sender | None = None
_sender_pid: int | None = None
_sender_lock = threading.Lock()


def sender() -> Sender:
    """This process's sender (a forked child gets its own)."""
    global _sender, _sender_pid
    with _sender_lock:
        if _sender is None or _sender_pid != os.getpid():
            _sender = Sender()
            _sender_pid = os.getpid()
        return _sender
