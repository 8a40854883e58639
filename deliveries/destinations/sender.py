"""The destinations' sender: one event loop per process, in a helper thread, like the HTTP
transport's. The engine ``launch``es what it may start now; one ``transport.AttemptResult`` per
delivery comes back on the queue it gave.

For each endpoint's batch it checks the address the configuration names against the SSRF rules
(every send, against every address the name resolves to, then connects to a checked address),
reuses that endpoint's client (one per configuration and address) or connects a new one, and
calls the kind's adapter with up to its ``batch_size`` messages. A client that fails with
``ConnectionLost`` is dropped: the next batch connects again (a broker restart costs the tries
in flight, which are retried like any failed try). Writes nothing to the database.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from deliveries.transport import AttemptResult, TransportOptions
from endpoints import destinations, url_safety

from .base import Adapter, Answer, ConnectionLost, Message, Target

T = TypeVar("T")
ACCEPTED = 202  # the status an accepted message is recorded with (a success, like any 2xx)
BLOCKING_THREADS = 8


@dataclass(frozen=True)
class DestinationRequest:
    target: Target
    message: Message


def answer_result(key: Any, answer: Answer, started: datetime, duration_ms: int) -> AttemptResult:
    """What the attempt log keeps of an answer: the message id, sequence number and error code
    as response headers, and the whole answer as the body (JSON)."""
    headers = {
        name: value
        for name, value in (
            ("message-id", answer.message_id),
            ("sequence-number", answer.sequence_number),
            ("error-code", answer.code),
        )
        if value
    }
    body = {k: v for k, v in headers.items()} | (
        {"details": answer.details} if answer.details else {}
    )
    if answer.error:
        body["error"] = answer.error
    return AttemptResult(
        key=key,
        started_at=started,
        duration_ms=duration_ms,
        status=ACCEPTED if answer.ok else 0,
        response_headers=headers,
        response_body=json.dumps(body, sort_keys=True).encode(),
        error="" if answer.ok else answer.error or "refused",
    )


class DestinationSender:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_lock = threading.Lock()
        # endpoint id -> (fingerprint, address, client)
        self._clients: dict[str, tuple[str, str | None, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=BLOCKING_THREADS, thread_name_prefix="webhooks-destination"
        )

    def _ensure_started(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._started.clear()
                self._thread = threading.Thread(
                    target=self._run_loop, name="webhooks-destinations", daemon=True
                )
                self._thread.start()
                self._started.wait()
        assert self._loop is not None  # noqa: S101
        return self._loop

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._clients.clear()
        self._locks.clear()
        self._loop = loop
        self._started.set()
        loop.run_forever()

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """A blocking library call (boto3) off the event loop, in a bounded pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)

    def launch(
        self,
        requests: Sequence[DestinationRequest],
        options: TransportOptions,
        out: queue.Queue[Any],
    ) -> None:
        if not requests:
            return
        loop = self._ensure_started()
        loop.call_soon_threadsafe(self._launch_all, list(requests), options, out)

    def _launch_all(
        self, requests: list[DestinationRequest], options: TransportOptions, out: queue.Queue[Any]
    ) -> None:
        by_endpoint: dict[str, list[DestinationRequest]] = {}
        for request in requests:
            by_endpoint.setdefault(request.target.endpoint, []).append(request)
        for batch in by_endpoint.values():
            target = batch[-1].target
            spec = destinations.kind_get(target.kind)
            adapter: Adapter | None = spec.adapter if spec is not None else None
            size = max(1, adapter.batch_size if adapter is not None else 1)
            for i in range(0, len(batch), size):
                chunk = [r.message for r in batch[i : i + size]]
                asyncio.ensure_future(self._send(target, chunk, options, out))

    async def _send(
        self,
        target: Target,
        messages: list[Message],
        options: TransportOptions,
        out: queue.Queue[Any],
    ) -> None:
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        try:
            answers = await asyncio.wait_for(
                self._publish(target, messages, options), timeout=options.timeout
            )
        except TimeoutError:
            answers = [Answer(ok=False, error="timeout")] * len(messages)
        except Exception as exc:  # noqa: BLE001  a result is owed for every delivery
            answers = [Answer(ok=False, error=_error_text(exc))] * len(messages)
        duration = int((time.perf_counter() - t0) * 1000)
        answers = [_scrubbed(a, target) for a in answers]
        for message, answer in zip(messages, answers, strict=True):
            out.put(answer_result(message.key, answer, started, duration))

    async def _publish(
        self, target: Target, messages: list[Message], options: TransportOptions
    ) -> list[Answer]:
        spec = destinations.kind_get(target.kind)
        if spec is None or spec.adapter is None:
            return [Answer(ok=False, error=f"unknown destination kind {target.kind!r}")] * len(
                messages
            )
        if missing := spec.missing():
            return [Answer(ok=False, error=missing, code="LIBRARY_MISSING")] * len(messages)
        allowed = (
            options.allowed_subnets if target.allowed_subnets is None else target.allowed_subnets
        )
        try:
            address = await _checked_address(spec.address(target.config), allowed)
        except url_safety.UnsafeURL as exc:
            return [Answer(ok=False, error=f"blocked: {exc}")] * len(messages)
        except TimeoutError:
            return [Answer(ok=False, error="timeout: dns lookup")] * len(messages)
        except (OSError, UnicodeError):
            return [Answer(ok=False, error="dns error: host not found")] * len(messages)
        adapter: Adapter = spec.adapter
        try:
            client = await self._client(adapter, target, address)
        except ConnectionLost as exc:
            return [Answer(ok=False, error=str(exc), code=exc.code)] * len(messages)
        try:
            answers = await adapter.publish(client, target, messages)
        except ConnectionLost as exc:
            await self._drop(adapter, target.endpoint, client)
            return [Answer(ok=False, error=str(exc), code=exc.code)] * len(messages)
        if len(answers) != len(messages):
            raise RuntimeError("adapter answered a different number of messages")
        return answers

    async def _client(self, adapter: Adapter, target: Target, address: str | None) -> Any:
        lock = self._locks.setdefault(target.endpoint, asyncio.Lock())
        async with lock:
            kept = self._clients.get(target.endpoint)
            if (
                kept is not None
                and kept[0] == target.fingerprint
                and kept[1] == address
                and adapter.usable(kept[2])
            ):
                return kept[2]
            if kept is not None:
                await self._drop(adapter, target.endpoint, kept[2])
            try:
                client = await adapter.connect(target, address)
            except ConnectionLost:
                raise
            except OSError as exc:
                raise ConnectionLost(f"connection error: {exc}") from exc
            self._clients[target.endpoint] = (target.fingerprint, address, client)
            return client

    async def _drop(self, adapter: Adapter, endpoint: str, client: Any) -> None:
        kept = self._clients.get(endpoint)
        if kept is not None and kept[2] is client:
            del self._clients[endpoint]
        with contextlib.suppress(Exception):  # closing a broken client may fail too
            await adapter.close(client)


def _scrubbed(answer: Answer, target: Target) -> Answer:
    """An answer whose error text carries none of the target's secret options (a library's
    message may quote what it was given)."""
    if not answer.error:
        return answer
    spec = destinations.kind_get(target.kind)
    text = answer.error
    for option in spec.options if spec is not None else ():
        value = target.config.get(option.name)
        if option.secret and isinstance(value, str) and value:
            text = text.replace(value, destinations.REDACTED)
    if text == answer.error:
        return answer
    return Answer(ok=False, error=text, code=answer.code, details=answer.details)


async def _checked_address(
    address: tuple[str, int] | None, allowed: tuple[url_safety.Network, ...]
) -> str | None:
    """The address to connect to, checked like a webhook URL's on every attempt."""
    if address is None:
        return None
    host, port = address
    literal = url_safety.parse_ip_literal(host)
    if literal is not None:
        url_safety.check_addresses(host, [literal], allowed)
        return str(literal)
    addresses = await url_safety.resolve_async(host, port)
    if not addresses:
        raise OSError("no addresses")
    url_safety.check_addresses(host, addresses, allowed)
    return str(addresses[0])


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ConnectionLost):
        return str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError):
        return f"connection error: {exc.strerror or exc.__class__.__name__}"
    return f"error: {exc.__class__.__name__}: {str(exc)[:300]}"


_sender: DestinationSender | None = None
_sender_pid: int | None = None
_sender_lock = threading.Lock()


def sender() -> DestinationSender:
    """This process's destinations sender (a forked child gets its own)."""
    global _sender, _sender_pid
    with _sender_lock:
        if _sender is None or _sender_pid != os.getpid():
            _sender = DestinationSender()
            _sender_pid = os.getpid()
        return _sender
