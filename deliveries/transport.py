"""The one place that makes outbound HTTP to customers' URLs.

``send_batches`` posts a batch of requests concurrently (aiohttp on an event loop in a helper
thread) and yields results to the calling thread as they finish, so the caller records each
attempt without waiting for the slowest receiver in the batch. Every request:

- is re-checked against the address rules (``endpoints.url_safety``) after resolving its host,
  and connects only to the addresses that were checked (a pinned resolver; no second lookup that
  DNS rebinding could change), with TLS certificate and hostname verification left on;
- has a total timeout, never follows redirects, and captures at most ``body_limit`` bytes of the
  response.

It writes nothing to the database and imports nothing from Django.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from endpoints import url_safety

USER_AGENT = "webhooks-platform/0.1 (+https://www.standardwebhooks.com/)"


@dataclass(frozen=True)
class OutboundRequest:
    key: Any  # the caller's handle for the result (a delivery id)
    url: str
    headers: dict[str, str]
    body: bytes
    group: str = ""  # requests sharing a group (an endpoint) share a concurrency cap


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


class _PinnedResolver(AbstractResolver):
    """Answers only with addresses that ``_send_one`` resolved and checked for that host."""

    def __init__(self) -> None:
        self.pinned: dict[str, list[url_safety.IPAddress]] = {}

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


@dataclass(frozen=True)
class TransportOptions:
    timeout: float
    allowed_subnets: tuple[url_safety.Network, ...]
    body_limit: int = 20_000
    require_https: bool = False
    max_concurrency: int = 100
    per_group_limit: int = 10


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
    host: str, port: int, options: TransportOptions
) -> list[url_safety.IPAddress]:
    literal = url_safety.parse_ip_literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        addresses = await loop.run_in_executor(None, url_safety.resolve, host, port)
        if not addresses:
            raise OSError("no addresses")
    url_safety.check_addresses(host, addresses, options.allowed_subnets)
    return addresses


async def _send_one(
    request: OutboundRequest,
    session: aiohttp.ClientSession,
    resolver: _PinnedResolver,
    options: TransportOptions,
    group_limits: dict[str, asyncio.Semaphore],
) -> AttemptResult:
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    result = AttemptResult(key=request.key, started_at=started_at, duration_ms=0)
    semaphore = group_limits.setdefault(request.group, asyncio.Semaphore(options.per_group_limit))
    try:
        async with semaphore:
            started_at = result.started_at = datetime.now(UTC)
            t0 = time.perf_counter()
            try:
                _, host, port = url_safety.check_url_shape(
                    request.url, require_https=options.require_https
                )
            except url_safety.UnsafeURL as exc:
                result.error = f"blocked: {exc}"
                return result
            try:
                addresses = await asyncio.wait_for(
                    _resolve_checked(host, port, options), timeout=options.timeout
                )
            except url_safety.BlockedAddress as exc:
                result.error = f"blocked: {exc}"
                return result
            except (OSError, UnicodeError):
                result.error = "dns error: host not found"
                return result
            resolver.pinned[host] = addresses
            remaining = max(0.001, options.timeout - (time.perf_counter() - t0))
            async with session.post(
                request.url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=remaining),
            ) as response:
                result.status = response.status
                result.response_headers = {}
                for name, value in response.headers.items():
                    key = name.lower()
                    if key in result.response_headers:
                        result.response_headers[key] += ", " + value
                    else:
                        result.response_headers[key] = value
                try:
                    result.response_body = await _read_limited(response, options.body_limit)
                except (TimeoutError, aiohttp.ClientError) as exc:
                    # The status arrived; a body cut short does not change the outcome.
                    result.error = f"response body incomplete: {_error_text(exc)}"
    except Exception as exc:  # noqa: BLE001  every failure becomes a recorded attempt
        result.error = _error_text(exc)
    finally:
        result.duration_ms = int((time.perf_counter() - t0) * 1000)
    return result


_DONE = object()


async def _run(
    requests: Sequence[OutboundRequest], options: TransportOptions, out: queue.Queue[Any]
) -> None:
    resolver = _PinnedResolver()
    connector = aiohttp.TCPConnector(
        resolver=resolver,
        use_dns_cache=False,
        limit=options.max_concurrency,
        limit_per_host=0,
        enable_cleanup_closed=True,
    )
    group_limits: dict[str, asyncio.Semaphore] = {}
    async with aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": USER_AGENT},
        skip_auto_headers=("Accept-Encoding",),
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as session:
        tasks = [
            asyncio.ensure_future(_send_one(r, session, resolver, options, group_limits))
            for r in requests
        ]
        for finished in asyncio.as_completed(tasks):
            out.put(await finished)


def send_batches(
    requests: Iterable[OutboundRequest], options: TransportOptions
) -> Iterator[list[AttemptResult]]:
    """Send ``requests`` concurrently; yield lists of results as they finish.

    Each list holds every result that finished since the previous one was taken, so the caller
    writes in small bulks without waiting for the slowest request.
    """
    pending = list(requests)
    if not pending:
        return
    out: queue.Queue[Any] = queue.Queue()

    def runner() -> None:
        try:
            asyncio.run(_run(pending, options, out))
        except BaseException as exc:  # noqa: BLE001  reported to the consuming thread
            out.put(exc)
        finally:
            out.put(_DONE)

    thread = threading.Thread(target=runner, name="webhooks-transport", daemon=True)
    thread.start()
    done = False
    while not done:
        item = out.get()
        items = [item]
        while True:
            try:
                items.append(out.get_nowait())
            except queue.Empty:
                break
        batch: list[AttemptResult] = []
        for item in items:
            if item is _DONE:
                done = True
            elif isinstance(item, BaseException):
                thread.join()
                raise item
            else:
                batch.append(item)
        if batch:
            yield batch
    thread.join()


def send_one(request: OutboundRequest, options: TransportOptions) -> AttemptResult:
    return next(iter(send_batches([request], options)))[0]
