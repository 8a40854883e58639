"""The delivery benchmark: ``python -m bench.run [--quick] [--scenario N ...]``.

Starts a receiver, the platform's Celery workers (PostgreSQL + Redis, the production
configuration) and publishers, all on 127.0.0.1, runs the scenarios and writes
``bench/results/<scenario>.json``, ``bench/results/README.md`` and PNG plots (``--quick`` writes
under ``bench/results/quick/``). Every throughput is also reported as a ratio against a baseline
measured in the same run: one ``requests.Session`` posting the same bodies to the same receiver,
one at a time, with no bookkeeping.

Scenarios: 1 many events to one endpoint (plus end-to-end latency at a fixed offered rate);
2 one event fanned out to many endpoints; 3 10% of endpoints slow; 4 20% of endpoints failing;
5 the delivery log and attempt lists with a million attempts in the database; 6 a backlog to one
endpoint published with no worker running, then drained by 1, 2 and 4 worker processes; 7 ordered
and filtered endpoints beside plain ones; 8 a push and a poll endpoint; 9 one ordered endpoint
draining a 300-event backlog (``bench/ordered.py``); 10 transformations: a trivial one's cost,
and hostile scripts beside a healthy endpoint (``bench/transformations.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench import infra, partitions, transformations
from bench.infra import pct
from bench.measure import EVENT_TYPE, PAD, Progress, baseline, succeeded_count

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


class Bench:
    def __init__(
        self,
        sizes: Sizes,
        out: Path,
        workers: int,
        concurrency: int,
        profile: bool = False,
        drain_workers: tuple[str, ...] = ("readme", "frontier", "1", "2"),
    ) -> None:
        self.sizes = sizes
        self.profile = profile
        self.drain_workers = drain_workers
        self.out = out
        self.logs = out / "logs"
        self.worker_count = workers
        self.concurrency = concurrency
        self.results: dict[str, dict[str, Any]] = {}
        self.s1_rate: float | None = None
        self.drains = 0

    def start(self) -> None:
        infra.VAR_DIR.mkdir(parents=True, exist_ok=True)
        infra.configure_this_process()
        infra.database_prepare()
        infra.broker_flush()
        self.receiver = infra.Receiver(self.logs)
        self.fixtures = Fixtures(self.receiver)
        self.workers = infra.Workers(
            self.logs,
            count=self.worker_count,
            concurrency=self.concurrency,
            extra_env={},
        )
        self.publishers = Publishers(max(self.sizes.publishers, self.sizes.paced_publishers))
        self.cpu = infra.CpuMeter(self.workers, self.receiver, self.publishers.pids)

    def stop(self) -> None:
        publishers = getattr(self, "publishers", None)
        if publishers is not None:
            publishers.close()
        workers = getattr(self, "workers", None)
        if workers is not None:
            workers.stop()

    def quiesce(self, endpoint_ids: list[str]) -> None:
        """Take a finished scenario's endpoints out of the way of the next one."""
        from django.db import OperationalError, transaction

        from deliveries.models import Delivery
        from endpoints.models import Endpoint

        def endpoints_off() -> None:
            list(
                Endpoint.objects.select_for_update()
                .filter(pk__in=endpoint_ids)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            Endpoint.objects.filter(pk__in=endpoint_ids).update(enabled=False)

        def pending_cancelled() -> None:
            # Rows in id order, as the recorder writes them, skipping those it holds now.
            waiting = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(endpoint_id__in=endpoint_ids, status=Delivery.Status.PENDING)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            Delivery.objects.filter(pk__in=waiting, status=Delivery.Status.PENDING).update(
                status=Delivery.Status.CANCELLED, cancel_reason="bench over"
            )

        # Workers are still recording retries to these endpoints: lock in id order, as the
        # recorder does, and try again if PostgreSQL still picks us as a deadlock victim.
        for step in (endpoints_off, pending_cancelled):
            for attempt in range(5):
                try:
                    with transaction.atomic():
                        step()
                    break
                except OperationalError:
                    if attempt == 4:
                        raise
                    time.sleep(0.5)
        self.receiver.reset()

    def deliver(
        self,
        *,
        key: str,
        title: str,
        slug: str,
        paths: list[str],
        healthy_prefix: str,
        events: int,
        rate: float = 0,
        publishers: int | None = None,
        options: dict[str, dict[str, Any]] | None = None,
        after: Callable[[list[str], float], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Publish ``events`` to a new tenant with endpoints at ``paths`` from ``publishers``
        processes (``Sizes.publishers`` by default); wait for the healthy. ``options``: endpoint
        fields by path; ``after(endpoint_ids, t0)``: more figures, taken before the endpoints
        are put away."""
        publishers = publishers or self.sizes.publishers
        base = baseline(self.receiver, self.fixtures, self.sizes.baseline_posts)
        tenant, endpoint_ids = self.fixtures.tenant(slug, paths, options)
        pairs = zip(endpoint_ids, paths, strict=True)
        healthy = [e for e, p in pairs if p.startswith(healthy_prefix)]
        expected = events * len(healthy)
        progress = Progress(healthy, expected, self.receiver.total)
        self.receiver.reset()
        self.cpu.start()
        t0 = time.time()
        join = in_background(self.publishers.publish, tenant.slug, events, rate, publishers)
        done_at = progress.wait(t0, self.sizes.timeout)
        published = join()
        cpu = self.cpu.stop()
        stats = self.receiver.stats()
        first_publish = min(p[1] for p in published)
        publish_end = max(p[1] + p[2] for p in published)
        publish_at = {p[0]: p[1] for p in published}
        latencies = []
        healthy_paths = {p for p in paths if p.startswith(healthy_prefix)}
        for arrival_key, arrived in stats["arrivals"].items():
            msg_id, _, path = arrival_key.partition(" ")
            if path in healthy_paths and msg_id in publish_at:
                latencies.append(arrived - publish_at[msg_id])
        delivered = progress.timeline[-1][1] if progress.timeline else 0
        elapsed = (done_at or time.time()) - first_publish
        result = {
            "scenario": key,
            "title": title,
            "complete": done_at is not None,
            "endpoints": len(paths),
            "healthy_endpoints": len(healthy),
            "events": events,
            "offered_rate": rate or None,
            "deliveries_expected": expected,
            "deliveries_done": delivered,
            **flow_figures(delivered, elapsed, base, cpu, stats, progress),
            "publish_seconds": round(publish_end - first_publish, 3),
            "publish_rate": round(len(published) / max(publish_end - first_publish, 1e-9), 1),
            "publish_latency_ms": ms_summary([p[2] for p in published], (50, 99)),
            "e2e_latency_ms": ms_summary(latencies),
            "latencies_ms": sorted(round(x * 1000, 2) for x in latencies),
        }
        if after is not None:
            result.update(after(endpoint_ids, first_publish))
        self.quiesce(endpoint_ids)
        return result

    # --- scenarios -------------------------------------------------------------------------

    def scenario_1(self) -> dict[str, Any]:
        s = self.sizes
        result = self.deliver(
            key="1",
            title=f"{s.s1_events:,} events to 1 endpoint",
            slug="s1",
            paths=["/ok/s1"],
            healthy_prefix="/ok/",
            events=s.s1_events,
        )
        self.s1_rate = result["deliveries_per_s"]
        result["paced"] = []
        for rate in s.paced_rates:
            events = int(rate * s.paced_seconds)
            paced = self.deliver(
                key="1-paced",
                title=f"{events:,} events to 1 endpoint offered at {rate}/s",
                slug=f"s1p{rate}",
                paths=[f"/ok/s1p{rate}"],
                healthy_prefix="/ok/",
                events=events,
                rate=rate,
                publishers=s.paced_publishers,
            )
            result["paced"].append(
                {
                    k: paced[k]
                    for k in (
                        "title",
                        "offered_rate",
                        "deliveries_done",
                        "deliveries_expected",
                        "publish_rate",
                        "publish_latency_ms",
                        "e2e_latency_ms",
                        "latencies_ms",
                        "complete",
                    )
                }
            )
        return result

    def scenario_2(self) -> dict[str, Any]:
        s = self.sizes
        paths = [f"/ok/s2-{i}" for i in range(s.s2_endpoints)]
        result = self.deliver(
            key="2",
            title=f"1 event fanned out to {s.s2_endpoints:,} endpoints",
            slug="s2",
            paths=paths,
            healthy_prefix="/ok/",
            events=1,
        )
        result["publish_latency_ms"] = self._publish_latency_with_subscribers("s2")
        result["publish_latency_note"] = (
            "200 publish_event() calls to the tenant with every endpoint subscribed, each in a "
            "transaction rolled back afterwards (so nothing is sent)"
        )
        return result

    def _publish_latency_with_subscribers(self, slug: str) -> dict[str, float]:
        from django.db import transaction

        from deliveries import publish_event
        from endpoints.models import Endpoint, Tenant

        tenant = Tenant.objects.get(slug=slug)
        Endpoint.objects.filter(tenant=tenant).update(enabled=True)
        samples = []

        class Rollback(Exception):
            pass

        for i in range(200):
            try:
                with transaction.atomic():
                    t0 = time.perf_counter()
                    publish_event(tenant, EVENT_TYPE, {"n": i, "pad": PAD})
                    samples.append(time.perf_counter() - t0)
                    raise Rollback
            except Rollback:
                pass
        Endpoint.objects.filter(tenant=tenant).update(enabled=False)
        return ms_summary(samples, (50, 99))

    def _mixed(self, key: str, kind: str, share: float, title: str) -> dict[str, Any]:
        s = self.sizes
        bad = round(s.s34_endpoints * share)
        paths = [f"/{kind}/s{key}-{i}" for i in range(bad)]
        paths += [f"/ok/s{key}-{i}" for i in range(bad, s.s34_endpoints)]
        result = self.deliver(
            key=key,
            title=title,
            slug=f"s{key}",
            paths=paths,
            healthy_prefix="/ok/",
            events=s.s34_events,
        )
        control = self.results.get("3-control")
        result["vs_all_healthy"] = (
            round(result["deliveries_per_s"] / control["deliveries_per_s"], 3) if control else None
        )
        result["vs_scenario_1"] = (
            round(result["deliveries_per_s"] / self.s1_rate, 3) if self.s1_rate else None
        )
        return result

    def scenario_3_control(self) -> dict[str, Any]:
        s = self.sizes
        return self.deliver(
            key="3-control",
            title=f"{s.s34_endpoints} endpoints, all healthy (control for 3 and 4)",
            slug="s3c",
            paths=[f"/ok/s3c-{i}" for i in range(s.s34_endpoints)],
            healthy_prefix="/ok/",
            events=s.s34_events,
        )

    def scenario_3(self) -> dict[str, Any]:
        n = self.sizes.s34_endpoints
        return self._mixed("3", "slow", 0.10, f"{n} endpoints, 10% answer after 2 s")

    def scenario_4(self) -> dict[str, Any]:
        n = self.sizes.s34_endpoints
        return self._mixed("4", "fail", 0.20, f"{n} endpoints, 20% answer 500")

    def scenario_7(self) -> dict[str, Any]:
        """Ordered and filtered endpoints beside plain ones: 10 % ordered, 10 % with a filter
        every event passes, 10 % with one no event passes, the rest plain. The rate is the plain
        endpoints' (against a control of as many plain ones); then the ordered ones' own
        figures, and whether each received its events in publish order (one publisher, so that
        publish order is one process's, ids only growing)."""
        s = self.sizes
        n = s.s34_endpoints
        tenth = max(1, n // 10)
        kinds = (
            [("ordered", {"ordered": True})] * tenth
            + [("passes", {"payload_filter": {"data.n": {"$gte": 0}}})] * tenth
            + [("blocked", {"payload_filter": {"data.n": {"$lt": 0}}})] * tenth
        )
        paths = [f"/{kind}/s7-{i}" for i, (kind, _) in enumerate(kinds)]
        options = {p: fields for p, (_, fields) in zip(paths, kinds, strict=True)}
        paths += [f"/ok/s7-{i}" for i in range(len(kinds), n)]
        events = s.s34_events
        # Its own control: the same number of endpoints, all plain, from one publisher too.
        control = self.deliver(
            key="7-control",
            title=f"{n} endpoints, all plain (control for 7)",
            slug="s7c",
            paths=[f"/ok/s7c-{i}" for i in range(n)],
            healthy_prefix="/ok/",
            events=events,
            publishers=1,
        )

        def ordered_figures(endpoint_ids: list[str], t0: float) -> dict[str, Any]:
            by_path = dict(zip(paths, endpoint_ids, strict=True))
            ordered = [by_path[p] for p in paths if p.startswith("/ordered/")]
            passes = [by_path[p] for p in paths if p.startswith("/passes/")]
            done = Progress(ordered + passes, events * (len(ordered) + len(passes))).wait(
                t0, s.timeout
            )
            arrivals = self.receiver.stats()["arrivals"]
            in_order = 0
            for path in (p for p in paths if p.startswith("/ordered/")):
                got = sorted(
                    (at, key.partition(" ")[0])
                    for key, at in arrivals.items()
                    if key.endswith(" " + path)
                )
                ids = [msg_id for _, msg_id in got]
                in_order += ids == sorted(ids) and len(ids) == events
            blocked = sum(1 for key in arrivals if key.partition(" ")[2].startswith("/blocked/"))
            seconds = (done or time.time()) - t0
            return {
                "ordered_endpoints": len(ordered),
                "ordered_in_publish_order": in_order,
                "ordered_and_passing_seconds": round(seconds, 3),
                "ordered_per_endpoint_per_s": round(events / seconds, 1) if seconds else None,
                "filtered_out_requests": blocked,
            }

        result = self.deliver(
            key="7",
            title=f"{n} endpoints: {tenth} ordered, {tenth} filtered (pass), {tenth} filtered "
            f"(out), the rest plain",
            slug="s7",
            paths=paths,
            healthy_prefix="/ok/",
            events=events,
            publishers=1,
            options=options,
            after=ordered_figures,
        )
        result["control"] = {
            k: control[k] for k in ("deliveries_per_s", "baseline_per_s", "ratio", "seconds")
        }
        result["vs_all_healthy"] = round(
            result["deliveries_per_s"] / max(control["deliveries_per_s"], 1e-9), 3
        )
        if result["ordered_per_endpoint_per_s"]:
            result["ordered_ratio"] = round(
                result["ordered_per_endpoint_per_s"] / result["baseline_per_s"], 3
            )
        return result

    def scenario_8(self) -> dict[str, Any]:
        """Push and pull side by side: one tenant with a push endpoint and a poll endpoint.
        The rate is the push endpoint's; then the feed is read from its start with the largest
        page (250) by one reader in this process (the service, not HTTP), and timed."""
        from deliveries.feed import feed_read
        from endpoints.models import Endpoint

        s = self.sizes
        events = s.s8_events

        def feed_figures(endpoint_ids: list[str], t0: float) -> dict[str, Any]:
            poll = Endpoint.objects.get(pk=endpoint_ids[1])
            read, after, pages = 0, 0, 0
            started = time.perf_counter()
            while read < events and time.perf_counter() - started < s.timeout:
                page = feed_read(endpoint=poll, after=after, limit=250, wait=1)
                read += len(page.entries)
                after = page.next_position
                pages += 1
            seconds = time.perf_counter() - started
            return {
                "feed_events_read": read,
                "feed_pages": pages,
                "feed_read_seconds": round(seconds, 3),
                "feed_read_per_s": round(read / seconds, 1) if seconds else None,
            }

        result = self.deliver(
            key="8",
            title=f"{events:,} events to a push and a poll endpoint of one tenant",
            slug="s8",
            paths=["/ok/s8", "/poll/s8"],
            healthy_prefix="/ok/",
            events=events,
            options={"/poll/s8": {"kind": "poll", "url": ""}},
            after=feed_figures,
        )
        result["feed_vs_push"] = (
            round(result["feed_read_per_s"] / max(result["deliveries_per_s"], 1e-9), 3)
            if result.get("feed_read_per_s")
            else None
        )
        return result

    def scenario_9(self) -> dict[str, Any]:
        from bench import ordered

        return ordered.run(self, quick=self.sizes is QUICK)

    def scenario_5(self) -> dict[str, Any]:
        from bench import logload

        return logload.run(self.sizes.s5_attempts, self.sizes.s5_requests, self.receiver.base)

    def scenario_6(self) -> dict[str, Any]:
        """A backlog to one endpoint, published while no worker runs, then drained: by the
        README's worker command (``readme``; ``readme@REV`` runs that revision's), by the
        bare-bones frontier engine with one process per core (``frontier``), and by N plain
        Celery workers (a number), in the order of ``--drain-workers``. A drain may repeat
        (``1,2,4,4,2,1`` interleaves two rounds): each figure is then the median of its runs.

        Published with ``publish_events`` (1,000 a call). The clock starts when the workers are
        ready; the baseline is measured just before each backlog is published. Worker RSS is
        sampled throughout. ``vs_1_worker`` is the median rate of a drain over that of one plain
        worker, and the same for the ratios to each run's own baseline (which takes out a
        machine that got busier); ``of_frontier``: its rate over the frontier's best.
        """
        runs = [(token, self.drain(workers=token)) for token in self.drain_workers]
        result = dict(runs[0][1])
        result["scenario"] = "6"
        result["title"] = f"backlog of {self.sizes.s6_events:,} events to 1 endpoint, drained"
        per_token: dict[str, list[dict[str, Any]]] = {}
        for token, r in runs:
            per_token.setdefault(token, []).append(r)

        def med(values: list[float]) -> float:
            return round(statistics.median(values), 3)

        by_workers: dict[str, dict[str, Any]] = {}
        for token, rs in per_token.items():
            keys = (
                "deliveries_per_s",
                "baseline_per_s",
                "ratio",
                "seconds",
                "http_ceiling_per_s",
                "ceiling_ratio",
                "fraction_of_ceiling",
                "worker_rss_mb_max",
                "worker_processes",
            )
            figures: dict[str, Any] = {k: med([r[k] or 0 for r in rs]) for k in keys}
            figures["cpu_s_per_1000"] = {
                k: med([r["cpu_s_per_1000"][k] for r in rs]) for k in rs[0]["cpu_s_per_1000"]
            }
            figures["runs"] = [
                {"deliveries_per_s": r["deliveries_per_s"], "ratio": r["ratio"]} for r in rs
            ]
            by_workers[token] = figures
        if "1" in by_workers:
            one = by_workers["1"]
            for figures in by_workers.values():
                figures["vs_1_worker"] = {
                    "rate": round(figures["deliveries_per_s"] / one["deliveries_per_s"], 3),
                    "ratio": round(figures["ratio"] / one["ratio"], 3),
                }
        frontier = [f["deliveries_per_s"] for t, f in by_workers.items() if t == "frontier"]
        if frontier and frontier[0]:
            for figures in by_workers.values():
                figures["of_frontier"] = round(figures["deliveries_per_s"] / frontier[0], 3)
        result["by_workers"] = by_workers
        result["drain_order"] = list(self.drain_workers)
        return result

    def drain(self, *, workers: str) -> dict[str, Any]:
        from deliveries import publish_events

        events = self.sizes.s6_events
        self.workers.stop()
        self.drains += 1
        slug = f"s6d{self.drains}"
        # Baseline and ceiling first: measured after publishing, on a busy machine they took
        # longer than WEBHOOKS_FANOUT_GRACE, and the sweeper then fanned the backlog out one
        # event per message ahead of the publish's own batched fan-out.
        base = baseline(self.receiver, self.fixtures, self.sizes.baseline_posts)
        ceiling = http_ceiling(self.receiver, self.fixtures, 4 * self.sizes.baseline_posts)
        tenant, endpoint_ids = self.fixtures.tenant(slug, [f"/ok/{slug}"])
        for start in range(0, events, 1000):
            batch = range(start, min(start + 1000, events))
            publish_events(
                tenant, [{"event_type": EVENT_TYPE, "payload": {"n": n, "pad": PAD}} for n in batch]
            )
        self.receiver.reset()
        progress = Progress(endpoint_ids, events, self.receiver.total)
        running: Any
        if workers.startswith("readme"):
            _, _, rev = workers.partition("@")
            root = infra.tree_at(rev) if rev else infra.ROOT
            running = infra.ReadmeWorkers(self.logs, root=root, label=f"readme-{slug}")
        elif workers == "frontier":
            running = infra.Frontier(
                self.logs,
                count=len(os.sched_getaffinity(0)),
                tenant=tenant.pk,
                endpoint=endpoint_ids[0],
                secret=self.fixtures.secret,
                url=f"{self.receiver.base}/ok/{slug}",
            )
        else:
            running = infra.Workers(
                self.logs,
                count=int(workers),
                concurrency=self.concurrency,
                # The backlog may be older than the fan-out grace when the workers start on a
                # busy machine: the sweeper would then fan out every event on its own, beside the
                # tenant's bulk drain, and the scenario would measure that recovery path.
                extra_env={"WEBHOOKS_FANOUT_GRACE": "3600"},
                profile=self.out / f"profile-6-{workers}w" if self.profile else None,
            )
        self.workers = running
        worker_pids = (
            running.worker_pids() if hasattr(running, "worker_pids") else running.pids()[:-1]
        )
        self.cpu = infra.CpuMeter(running, self.receiver, self.publishers.pids)
        rss = infra.RssSampler(worker_pids)
        # The workers start one after another: the first drains while the last starts. Count
        # only what is delivered once all of them are ready (clock and CPU alike).
        before = succeeded_count(endpoint_ids)
        self.cpu.start()
        t0 = time.time()
        done_at = progress.wait(t0, self.sizes.timeout)
        cpu = self.cpu.stop()
        rss_max = rss.stop()
        stats = self.receiver.stats()
        delivered = (progress.timeline[-1][1] if progress.timeline else 0) - before
        elapsed = (done_at or time.time()) - t0
        result = {
            "scenario": f"6-{workers}",
            "title": f"backlog of {events:,} events to 1 endpoint, {workers}",
            "complete": done_at is not None,
            "workers": workers,
            "worker_processes": len(worker_pids),
            "events": events,
            "deliveries_expected": events,
            "deliveries_done": delivered,
            "delivered_before_all_ready": before,
            **flow_figures(delivered, elapsed, base, cpu, stats, progress),
            "worker_rss_mb_max": rss_max,
            "http_ceiling_per_s": round(ceiling, 1),
            "ceiling_ratio": round(ceiling / base, 3) if base else None,
            "fraction_of_ceiling": round(delivered / elapsed / ceiling, 3) if ceiling else None,
        }
        self.quiesce(endpoint_ids)
        running.stop()
        self.workers = infra.Workers(
            self.logs, count=self.worker_count, concurrency=self.concurrency, extra_env={}
        )
        self.cpu = infra.CpuMeter(self.workers, self.receiver, self.publishers.pids)
        return result

    def run(self, wanted: list[str]) -> None:
        plan = {
            "1": self.scenario_1,
            "2": self.scenario_2,
            "3-control": self.scenario_3_control,
            "3": self.scenario_3,
            "4": self.scenario_4,
            "5": self.scenario_5,
            "6": self.scenario_6,
            "7": self.scenario_7,
            "8": self.scenario_8,
            "9": self.scenario_9,
            "10": lambda: transformations.scenario_10(self),
            # Last: it switches the schema and empties the database (bench/partitions.py).
            "11": lambda: partitions.scenario_11(self, quick=self.sizes is QUICK),
        }
        for key, fn in plan.items():
            if key.split("-")[0] not in wanted:
                continue
            print(f"scenario {key} ...", flush=True)
            t = time.monotonic()
            result = fn()
            result["wall_seconds"] = round(time.monotonic() - t, 1)
            self.results[key] = result
            (self.out / f"{key}.json").write_text(json.dumps(result, indent=1) + "\n")
            print("  " + one_line(result), flush=True)


def one_line(r: dict[str, Any]) -> str:
    if r["scenario"] == "11":
        return partitions.one_line(r)
    if r["scenario"] == "9":
        from bench import ordered

        return ordered.one_line(r)
    if r["scenario"] == "5":
        return "; ".join(f"{p['name']} p50 {p['p50_ms']} p99 {p['p99_ms']} ms" for p in r["pages"])
    if r["scenario"] == "6":
        return "; ".join(
            f"{n} ({w['worker_processes']} processes): {w['deliveries_per_s']}/s, baseline "
            f"{w['baseline_per_s']}/s, ratio {w['ratio']}, of frontier {w.get('of_frontier')}, "
            f"HTTP ceiling {w['http_ceiling_per_s']}/s "
            f"({w['ceiling_ratio']}x baseline; ours {w['fraction_of_ceiling']} of it), "
            f"worker RSS max {w['worker_rss_mb_max']} MB, CPU ms/delivery "
            + ", ".join(f"{k} {v}" for k, v in w["cpu_s_per_1000"].items())
            + (f", vs 1 worker {w['vs_1_worker']}" if "vs_1_worker" in w else "")
            for n, w in r["by_workers"].items()
        )
    extra = ""
    if r["scenario"] == "10":
        extra = (
            f"; healthy beside hostile scripts vs alone {r['healthy_vs_alone']}; trivial "
            f"transformation vs none {r['trivial_vs_none']}"
        )
    if r["scenario"] == "8":
        extra = (
            f"; feed read {r['feed_events_read']} in {r['feed_read_seconds']} s = "
            f"{r['feed_read_per_s']}/s ({r['feed_vs_push']}x the push rate)"
        )
    if r["scenario"] == "7":
        extra = (
            f"; plain vs all-plain control {r['vs_all_healthy']}; ordered "
            f"{r['ordered_in_publish_order']}/{r['ordered_endpoints']} in publish order, "
            f"{r['ordered_per_endpoint_per_s']}/s each ({r.get('ordered_ratio')}x the loop); "
            f"filtered-out requests "
            f"{r['filtered_out_requests']}"
        )
    paced = "".join(
        f"; paced {p['offered_rate']}/s (published at {p['publish_rate']}/s): "
        f"{p['deliveries_done']}/{p['deliveries_expected']}, e2e p50/p99 "
        f"{p['e2e_latency_ms']['p50']}/{p['e2e_latency_ms']['p99']} ms"
        for p in r.get("paced", [])
    )
    return (
        f"{r['deliveries_done']}/{r['deliveries_expected']} in {r['seconds']} s: "
        f"{r['deliveries_per_s']}/s, baseline {r['baseline_per_s']}/s, ratio {r['ratio']}; "
        f"publish p50/p99 {r['publish_latency_ms']['p50']}/{r['publish_latency_ms']['p99']} ms; "
        f"e2e p50/p95/p99 {r['e2e_latency_ms']['p50']}/{r['e2e_latency_ms']['p95']}/"
        f"{r['e2e_latency_ms']['p99']} ms; signatures ok {r['signatures']['verified']} "
        f"bad {r['signatures']['bad']}{paced}{extra}"
    )


def machine() -> dict[str, Any]:
    import psutil
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "postgres": pg,
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, under a minute")
    parser.add_argument("--scenario", action="append", help="1-9; repeat for several")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the scenario 6 workers (yappi, CPU clock): results/profile-6-*.pstats",
    )
    parser.add_argument(
        "--drain-workers",
        default="readme,frontier,1,2,4",
        help="scenario 6, comma-separated drains in order: readme (the README's worker "
        "command), readme@REV (that git revision's), frontier (the bare-bones engine, one "
        "process per core), N (N plain Celery workers); a drain may repeat (1,2,4,4,2,1 "
        "interleaves two rounds; figures are medians)",
    )
    parser.add_argument(
        "--backlog",
        type=int,
        help="scenario 6 with this many events (e.g. 100000 for worker memory through a long "
        "drain); results in results/backlog-N/, not the committed table",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="write the results here instead of bench/results/ (a partial run then leaves the "
        "committed table alone)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    out = RESULTS / "quick" if args.quick else RESULTS
    if args.backlog:
        sizes = replace(
            sizes, s6_events=args.backlog, timeout=max(sizes.timeout, args.backlog / 100)
        )
        out = RESULTS / f"backlog-{args.backlog}"
    if args.out:
        out = args.out
    out.mkdir(parents=True, exist_ok=True)
    wanted = args.scenario or ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]
    drain_workers = tuple(n.strip() for n in args.drain_workers.split(",") if n.strip())
    bench = Bench(sizes, out, args.workers, args.concurrency, args.profile, drain_workers)
    started = time.monotonic()
    status = 0
    try:
        bench.start()
        bench.run(wanted)
    except Exception:  # noqa: BLE001  reported, then the processes are cleaned up
        traceback.print_exc()
        status = 1
    finally:
        bench.stop()
        infra._kill_all()
    if bench.results:
        from bench import report

        meta = {
            "quick": args.quick,
            "workers": args.workers,
            "concurrency": args.concurrency,
            "machine": machine(),
            "wall_seconds": round(time.monotonic() - started, 1),
            "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
        report.write(out, bench.results, meta)
        print(f"results in {out} ({meta['wall_seconds']} s)", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
