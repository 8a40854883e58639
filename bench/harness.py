"""The benchmark's harness, shared by ``bench.run`` and its scenario modules: the sizes of a full
and a quick run, fixtures written straight to the database, the HTTP ceiling, the publisher
processes, and the figures of a measured flow."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench import infra
from bench.infra import pct
from bench.measure import EVENT_TYPE, PAD, Progress

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Sizes:
    s1_events: int
    paced_rates: tuple[int, ...]
    paced_seconds: float
    s2_endpoints: int
    s34_endpoints: int
    s34_events: int
    s5_attempts: int
    s5_requests: int
    s6_events: int
    s8_events: int
    baseline_posts: int
    publishers: int
    # Publisher processes for the paced runs: each publishes one event at a time, so offering
    # 1,000/s takes more than two when a publish waits 2 ms for a busy machine.
    paced_publishers: int
    timeout: float


FULL = Sizes(
    s1_events=20_000,
    paced_rates=(500, 1000),
    paced_seconds=10,
    s2_endpoints=5_000,
    s34_endpoints=200,
    s34_events=100,
    s5_attempts=1_000_000,
    s5_requests=40,
    s6_events=20_000,
    s8_events=10_000,
    baseline_posts=3_000,
    publishers=2,
    paced_publishers=4,
    timeout=240,
)
QUICK = Sizes(
    s1_events=600,
    paced_rates=(200,),
    paced_seconds=1.5,
    s2_endpoints=300,
    s34_endpoints=50,
    s34_events=6,
    s5_attempts=20_000,
    s5_requests=8,
    s6_events=600,
    s8_events=300,
    baseline_posts=300,
    publishers=2,
    paced_publishers=2,
    timeout=25,
)


def ms_summary(seconds: list[float], qs: tuple[int, ...] = (50, 95, 99)) -> dict[str, float]:
    return {f"p{q}": round(pct(seconds, q) * 1000, 2) for q in qs}


# --- fixtures written straight to the database (fast, and not what is being measured) ------------


class Fixtures:
    def __init__(self, receiver: infra.Receiver) -> None:
        from deliveries import signing
        from endpoints import crypto
        from endpoints.models import EventType

        self.receiver = receiver
        self.secret = signing.secret_generate()
        self.encrypted = crypto.encrypt(self.secret)
        self.event_type, _ = EventType.objects.get_or_create(name=EVENT_TYPE)
        receiver.register_secrets({"*": self.secret})

    def tenant(
        self, slug: str, paths: list[str], options: dict[str, dict[str, Any]] | None = None
    ) -> tuple[Any, list[str]]:
        """A tenant with one endpoint per path; ``options``: model fields by path (``ordered``,
        ``payload_filter``)."""
        from endpoints.models import Endpoint, EndpointSecret, Tenant, Transformation

        tenant = Tenant.objects.create(slug=slug, name=slug)
        options = {p: dict(o) for p, o in (options or {}).items()}
        codes = {p: o.pop("_code") for p, o in options.items() if "_code" in o}
        endpoints = [
            Endpoint(tenant=tenant, **{"url": f"{self.receiver.base}{p}", **options.get(p, {})})
            for p in paths
        ]
        Endpoint.objects.bulk_create(endpoints, batch_size=1000)
        Transformation.objects.bulk_create(
            [
                Transformation(endpoint=e, version=1, code=codes[p])
                for e, p in zip(endpoints, paths, strict=True)
                if p in codes
            ]
        )
        EndpointSecret.objects.bulk_create(
            [EndpointSecret(endpoint=e, encrypted=self.encrypted) for e in endpoints],
            batch_size=1000,
        )
        return tenant, [e.pk for e in endpoints]

    def body_and_headers(self) -> tuple[bytes, dict[str, str]]:
        from django.utils import timezone

        from deliveries import signing
        from deliveries.services.publishing import event_body

        body = event_body(
            event_type=EVENT_TYPE, created_at=timezone.now(), payload={"n": 0, "pad": PAD}
        ).encode()
        headers = {"content-type": "application/json"}
        headers.update(
            signing.headers(
                secrets=[self.secret], msg_id="msg_baseline", timestamp=int(time.time()), body=body
            )
        )
        return body, headers


def http_ceiling(
    receiver: infra.Receiver, fixtures: Fixtures, posts: int, in_flight: int = 64
) -> float:
    """What a Python sender can reach here: aiohttp, ``in_flight`` requests at once, the same
    bodies to the same receiver, no database and nothing recorded."""
    import asyncio

    import aiohttp

    body, headers = fixtures.body_and_headers()
    url = f"{receiver.base}/ok/ceiling"

    async def run() -> float:
        connector = aiohttp.TCPConnector(limit=in_flight)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(url, data=body, headers=headers) as response:
                response.raise_for_status()
            left = posts

            async def worker() -> None:
                nonlocal left
                while left > 0:
                    left -= 1
                    async with session.post(url, data=body, headers=headers) as response:
                        response.raise_for_status()
                        await response.read()

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(in_flight)))
            return posts / (time.perf_counter() - t0)

    rate = asyncio.run(run())
    receiver.reset()
    return rate


# --- publishers (separate processes, so that publishing does not share this GIL) --------------


def _publish(job: tuple[str, int, float, float]) -> list[tuple[str, float, float]]:
    """Publish ``count`` events at ``rate`` per second (0: as fast as possible) from ``start``."""
    from deliveries import publish_event
    from endpoints.models import Tenant

    slug, count, rate, start = job
    tenant = Tenant.objects.get(slug=slug)
    while time.time() < start:
        time.sleep(0.001)
    out: list[tuple[str, float, float]] = []
    t_start = time.perf_counter()
    for i in range(count):
        if rate:
            delay = t_start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        wall = time.time()
        t0 = time.perf_counter()
        event = publish_event(tenant, EVENT_TYPE, {"n": i, "pad": PAD})
        out.append((event.pk, wall, time.perf_counter() - t0))
    return out


def _noop() -> int:
    return os.getpid()


class Publishers:
    def __init__(self, count: int) -> None:
        self.count = count
        self.pool = ProcessPoolExecutor(
            max_workers=count,
            mp_context=get_context("spawn"),
            initializer=infra.configure_this_process,
        )
        answered = {f.result(timeout=60) for f in [self.pool.submit(_noop) for _ in range(count)]}
        self.pids = sorted(answered | set(getattr(self.pool, "_processes", {}) or {}))
        for pid in self.pids:
            infra.register_pid(pid)

    def publish(
        self, slug: str, events: int, rate: float = 0, processes: int | None = None
    ) -> list[tuple[str, float, float]]:
        """``events`` from ``processes`` of the pool's processes (all by default) at once."""
        count = min(processes or self.count, self.count)
        each, extra = divmod(events, count)
        shares = [each + (1 if i < extra else 0) for i in range(count)]
        start = time.time() + 0.2
        jobs = [(slug, n, rate / count, start) for n in shares if n]
        results: list[tuple[str, float, float]] = []
        for part in self.pool.map(_publish, jobs):
            results.extend(part)
        return results

    def close(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.pool.shutdown(wait=False, cancel_futures=True)


# --- measuring a delivery scenario ---------------------------------------------------------------


def flow_figures(
    delivered: int,
    elapsed: float,
    base: float,
    cpu: dict[str, float],
    stats: dict[str, Any],
    progress: Progress,
) -> dict[str, Any]:
    """What every delivery scenario reports: rate and ratio, CPU, the receiver's view."""
    rate = delivered / elapsed if elapsed > 0 else 0.0
    return {
        "seconds": round(elapsed, 3),
        "deliveries_per_s": round(rate, 1),
        "baseline_per_s": round(base, 1),
        "ratio": round(rate / base, 3) if base else None,
        "cpu_seconds": cpu,
        "cpu_s_per_1000": {k: round(v * 1000 / max(delivered, 1), 3) for k, v in cpu.items()},
        "receiver_requests": stats["total"],
        "signatures": {
            "verified": stats["verified"],
            "bad": stats["bad_signatures"],
            "unverifiable": stats["unverifiable"],
        },
        "timeline": progress.timeline,
    }


def in_background(fn: Any, *args: Any) -> Any:
    import threading

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001  re-raised by the caller
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join() -> Any:
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]

    return join
