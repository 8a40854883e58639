"""The benchmark's receiver: a small aiohttp server in its own process, on 127.0.0.1 only.

What a path answers depends on its first segment: ``/ok/...`` 200 at once, ``/slow/...`` 200
after ``SLOW_SECONDS``, ``/fail/...`` 500 at once. It counts requests per path, records the first
arrival (wall clock) of every ``webhook-id`` at every path, and verifies the signature of one
request in ``sample_every`` with ``deliveries.signing.verify`` against the secrets the harness
registered.

Control routes (the harness's only way in): ``GET /_stats``, ``GET /_total``, ``POST /_reset``,
``POST /_secrets`` (a JSON map of path → secret).

Run: ``python -m bench.receiver PORT``; it prints ``ready`` once listening.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import defaultdict

from aiohttp import web

from deliveries import signing

SLOW_SECONDS = 2.0


class State:
    def __init__(self, sample_every: int = 50) -> None:
        self.sample_every = sample_every
        self.reset()
        self.secrets: dict[str, str] = {}

    def reset(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)
        self.arrivals: dict[str, float] = {}
        self.total = 0
        self.verified = 0
        self.bad_signatures = 0
        self.unverifiable = 0


async def handle(request: web.BaseRequest, state: State) -> web.StreamResponse:
    path = request.path
    if path.startswith("/_"):
        return await control(request, state, path)
    body = await request.read()
    now = time.time()
    state.total += 1
    state.counts[path] += 1
    # One delivery is one (event, endpoint): the webhook-id plus the path.
    key = f"{request.headers.get('webhook-id', '')} {path}"
    if key not in state.arrivals:
        state.arrivals[key] = now
    if state.total % state.sample_every == 1:
        verify(request, body, state, path, now)
    kind = path.split("/", 2)[1] if path.count("/") >= 2 else "ok"
    if kind == "slow":
        await asyncio.sleep(SLOW_SECONDS)
    elif kind == "fail":
        return web.Response(status=500, text="failing on purpose")
    return web.Response(status=200, text="ok")


def verify(request: web.BaseRequest, body: bytes, state: State, path: str, now: float) -> None:
    secret = state.secrets.get(path) or state.secrets.get("*")
    signature = request.headers.get("webhook-signature")
    if not secret or not signature:
        state.unverifiable += 1
        return
    try:
        signing.verify(
            secret=secret,
            msg_id=request.headers.get("webhook-id", ""),
            timestamp=request.headers.get("webhook-timestamp", ""),
            signature=signature,
            body=body,
            now=now,
        )
    except Exception:  # noqa: BLE001  any failure to verify counts as a bad signature
        state.bad_signatures += 1
    else:
        state.verified += 1


async def control(request: web.BaseRequest, state: State, path: str) -> web.Response:
    if path == "/_total":  # cheap enough to poll many times a second
        return web.json_response({"total": state.total})
    if path == "/_stats":
        return web.json_response(
            {
                "total": state.total,
                "counts": state.counts,
                "arrivals": state.arrivals,
                "verified": state.verified,
                "bad_signatures": state.bad_signatures,
                "unverifiable": state.unverifiable,
                "pid": os.getpid(),
            }
        )
    if path == "/_reset":
        state.reset()
        return web.json_response({"ok": True})
    if path == "/_secrets":
        state.secrets.update(json.loads(await request.read()))
        return web.json_response({"ok": True})
    return web.Response(status=404)


async def main(port: int) -> None:
    state = State()
    server = web.Server(lambda request: handle(request, state), access_log=None)
    runner = web.ServerRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=2048)
    await site.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
