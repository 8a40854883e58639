"""Slow clients against the deployment docker-compose ships: nginx in front of gunicorn.

gunicorn's threaded worker spends a thread on each connection for as long as its client takes to
send the request. The compose stack puts ``deploy/nginx/webhooks.conf`` in front: these tests run
that file, unchanged but for the upstream address and the port, before a gunicorn worker with
four threads, and open more slow connections than there are threads.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workers import ROOT, free_port, gunicorn_server, wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 4
SLOW = 3 * THREADS  # each kind of slow client, three times the threads


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        reason = "nginx is missing; install it with `apt-get install nginx-light`"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the slow-client test must run)", pytrace=False)
        pytest.skip(reason)
    return found


@pytest.fixture
def web(tmp_path) -> Iterator[int]:  # type: ignore[no-untyped-def]
    with gunicorn_server(tmp_path / "gunicorn.log", threads=THREADS) as port:
        yield port


@pytest.fixture
def proxy(tmp_path, web) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """nginx with the shipped server block, proxying to ``web``; yields its port."""
    with nginx_proxy(tmp_path, web) as port:
        yield port


@contextlib.contextmanager
def nginx_proxy(tmp_path: Path, upstream: int) -> Iterator[int]:
    """nginx with the shipped server block, proxying to 127.0.0.1:``upstream``; its port."""
    binary = _nginx()
    port = free_port()
    shipped = (ROOT / "deploy/nginx/webhooks.conf").read_text()
    assert "server web:8000;" in shipped
    assert "listen 8080;" in shipped
    (tmp_path / "webhooks.conf").write_text(
        shipped.replace("server web:8000;", f"server 127.0.0.1:{upstream};").replace(
            "listen 8080;", f"listen 127.0.0.1:{port};"
        )
    )
    for folder in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / folder).mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
error_log {tmp_path}/error.log warn;
pid {tmp_path}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/webhooks.conf;
}}
"""
    )
    proc = subprocess.Popen(
        [binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "nginx.stderr", "wb"),  # noqa: SIM115  (the process owns it)
    )
    try:
        assert wait_for_port(port, timeout=10), (tmp_path / "nginx.stderr").read_text()
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _slow_connections(port: int) -> list[socket.socket]:
    """Connections that never finish their request: headers trickling, and bodies shorter than
    their Content-Length."""
    held = []
    for i in range(SLOW):
        trickle = socket.create_connection(("127.0.0.1", port), timeout=5)
        trickle.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        short = socket.create_connection(("127.0.0.1", port), timeout=5)
        short.sendall(
            b"POST /api/v1/tenants/acme/events/ HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            + b'{"event_type": "x", "pad": "'
            + str(i).encode()
        )
        held += [trickle, short]
    return held


def _healthz(port: int, timeout: float) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    finally:
        conn.close()


def test_slow_clients_do_not_hold_the_web_server_behind_the_proxy(proxy):
    held = _slow_connections(proxy)
    try:
        time.sleep(1)  # every slow connection is open and waiting
        answers = []
        for _ in range(5):
            for sock in held[::2]:
                sock.sendall(b"a")  # the headers keep trickling
            answers.append(_healthz(proxy, timeout=5))
        assert answers == [200] * 5
    finally:
        for sock in held:
            sock.close()


def test_without_the_proxy_the_same_clients_hold_every_thread(web):
    """Why the proxy ships: straight to gunicorn, the same connections stop /healthz."""
    held = _slow_connections(web)
    try:
        time.sleep(1)
        with pytest.raises(TimeoutError):
            _healthz(web, timeout=3)
    finally:
        for sock in held:
            sock.close()


def _raw(port: int, request: bytes) -> tuple[int, str, dict]:
    """Send ``request`` as is; the answer's status, content type and JSON body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), json.loads(body)


@pytest.mark.parametrize(
    ("path", "shape"),
    [("/api/v1/tenants/acme/events/", "native"), ("/api/v1/app/app_1/msg", "svix")],
)
def test_the_proxys_own_refusals_answer_in_the_routes_json_error_shape(proxy, path, shape):
    long_line = (
        f"GET {path}?q={'x' * 5000} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    big_header = (
        f"GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Big: {'y' * 5000}\r\n"
        "Connection: close\r\n\r\n"
    )
    big_body = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Content-Length: 4000000\r\nConnection: close\r\n\r\n{"
    )

    answers = {
        code: _raw(proxy, request.encode())
        for code, request in (("414", long_line), ("400", big_header), ("413", big_body))
    }

    for expected, (status, content_type, body) in answers.items():
        assert status == int(expected)
        assert content_type == "application/json"
        # A line too long has no path the proxy could route by: the native shape.
        if shape == "svix" and expected != "414":
            assert set(body) == {"code", "detail"}
            assert body["detail"]
        else:
            assert set(body) == {"error"}
            assert set(body["error"]) == {"code", "message", "fields"}
    assert answers["413"][2] == (
        {"code": "payload_too_large", "detail": "The request body is over 2.5 MB."}
        if shape == "svix"
        else {
            "error": {
                "code": "payload_too_large",
                "message": "The request body is over 2.5 MB.",
                "fields": {},
            }
        }
    )


def test_the_proxy_passes_its_peer_as_the_client_never_a_forged_forwarded_for(tmp_path, receiver):
    # given nginx in front of a receiver that records the headers it is given
    upstream = int(receiver.base_url.rsplit(":", 1)[1])
    with nginx_proxy(tmp_path, upstream) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(
            "POST",
            "/ok/forwarded",
            body=b"{}",
            headers={"X-Forwarded-For": "198.51.100.9", "X-Real-IP": "198.51.100.9"},
        )
        assert conn.getresponse().status == 200
        conn.close()

    (seen,) = receiver.received("/ok/forwarded")
    assert seen.headers["x-forwarded-for"] == "127.0.0.1"
    assert seen.headers["x-real-ip"] == "127.0.0.1"


def test_the_proxy_passes_the_host_with_its_port(tmp_path, receiver):
    """Links the app builds from the request (portal links) keep a non-default port."""
    # given nginx in front of a receiver that records the headers it is given
    upstream = int(receiver.base_url.rsplit(":", 1)[1])
    with nginx_proxy(tmp_path, upstream) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        # when a client asks for a host on a port other than the scheme's
        conn.request("POST", "/ok/host", body=b"{}", headers={"Host": "hooks.example.test:8443"})
        assert conn.getresponse().status == 200
        conn.close()

    # then the app is given that host, port included
    (seen,) = receiver.received("/ok/host")
    assert seen.headers["host"] == "hooks.example.test:8443"


def test_a_body_over_the_apps_limit_is_refused_by_the_proxy_and_the_next_request_is_served(
    proxy,
):
    # given a body between the app's limit (2.5 MB) and 3 MB, then requests on the same
    # connection and on new ones (which reuse the proxy's connections to gunicorn)
    size = 2_800_000
    conn = http.client.HTTPConnection("127.0.0.1", proxy, timeout=10)
    answers = []
    for _ in range(5):
        conn.request(
            "POST",
            "/api/v1/tenants/acme/events/",
            body=b"{" + b" " * (size - 2) + b"}",
            headers={"Content-Type": "application/json"},
        )
        refused = conn.getresponse()
        body = json.loads(refused.read())
        answers.append((refused.status, body["error"]["code"]))
        if refused.getheader("Connection", "").lower() == "close":
            conn.close()
        conn.request("POST", "/api/v1/tenants/acme/events/", body=b"{}")
        following = conn.getresponse()
        following.read()
        answers.append((following.status, ""))
    conn.close()

    assert answers == [(413, "payload_too_large"), (401, "")] * 5
