"""A real HTTP receiver on 127.0.0.1 for tests: each path picks a behaviour.

``/ok`` 200, ``/status/<code>`` any status (``?retry_after=N`` adds Retry-After), ``/hang/<s>``
answers 200 after ``s`` seconds, ``/redirect`` 302, ``/close`` drops the connection without a
response, ``/binary`` 200 with a non-UTF-8 body, ``/big`` 200 with a 50 kB body,
``/badheader`` 200 with a header value that is not UTF-8, ``/manyheaders`` 200 with 800 kB of
headers, ``/flaky/<percent>`` 500 at random that often (from a seeded generator), else 200,
``/outage`` 500 after ``outage_seconds`` while ``outage`` is set (an outage the test starts
and ends), else 200.
Every request is recorded with its headers and body.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    query: str = ""  # as sent (the Twilio style signs the URL with it)
    method: str = "POST"


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set to release /hold requests (used by the worker-death tests).
    release: threading.Event = field(default_factory=threading.Event)
    # /flaky's coin: seeded, so that a run can be repeated.
    rng: random.Random = field(default_factory=lambda: random.Random(20261204))
    # /outage answers 500, each after this many seconds, while ``outage`` is set.
    outage: threading.Event = field(default_factory=threading.Event)
    outage_seconds: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def received(self, path_prefix: str = "") -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def wait_for(self, count: int, path_prefix: str = "", timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(path_prefix)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return self.received(path_prefix)

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            parts = urlsplit(self.path)
            with receiver.lock:
                receiver.requests.append(
                    Received(
                        path=parts.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        at=time.time(),
                        query=parts.query,
                        method=self.command,
                    )
                )
            query = parse_qs(parts.query)
            segments = parts.path.strip("/").split("/")
            kind = segments[0]
            if kind == "close":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if kind == "hang":
                time.sleep(float(segments[1]) if len(segments) > 1 else 30)
            if kind == "hold":
                receiver.release.wait(timeout=120)
            status, headers, payload = 200, {}, b"ok"
            if kind == "status":
                status = int(segments[1])
                payload = f"status {status}".encode()
                if "retry_after" in query:
                    headers["Retry-After"] = query["retry_after"][0]
            elif kind == "flaky":
                with receiver.lock:
                    failed = receiver.rng.random() * 100 < float(segments[1])
                if failed:
                    status, payload = 500, b"flaky"
            elif kind == "outage" and receiver.outage.is_set():
                time.sleep(receiver.outage_seconds)
                status, payload = 500, b"outage"
            elif kind == "redirect":
                status, headers = 302, {"Location": "http://127.0.0.1:1/elsewhere"}
            elif kind == "binary":
                payload = b"\xff\xfe\x00binary"
            elif kind == "big":
                payload = b"x" * 50_000
            elif kind == "badheader":
                headers["X-Bad"] = "\xff\xfe"  # latin-1 on the wire: not UTF-8
            elif kind == "manyheaders":
                # 100 headers of 8 kB: 800 kB (aiohttp refuses over 128 headers, 8 kB a line).
                headers = {f"X-Filler-{i}": "v" * 8000 for i in range(100)}
                headers["Retry-After"] = "7"
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/plain")
            self.send_header("X-Receiver", "tests")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

        do_PUT = do_PATCH = do_DELETE = do_POST  # noqa: N815  (a transformation may choose them)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    return Handler


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5. A sender that opens dozens of connections at
    # once then loses SYNs, and the kernel retries them after 1, 2, 4, 8 s: deliveries look
    # 15 s late for a reason that is the receiver's, not the sender's. Real servers listen
    # with a backlog in the hundreds.
    request_queue_size = 1024


def start_receiver() -> Receiver:
    server = _Server(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    receiver = Receiver(server=server)
    server.RequestHandlerClass = _handler(receiver)
    threading.Thread(target=server.serve_forever, name="test-receiver", daemon=True).start()
    return receiver
