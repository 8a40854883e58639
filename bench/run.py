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

Here: the command line and the ``Bench`` that runs the scenarios; its harness (sizes, fixtures,
publishers, figures) is ``bench/harness.py``, and scenarios 1-4, 5-6 and 7-9 are its methods in
``bench/scenarios_load.py``, ``bench/scenarios_backlog.py`` and ``bench/scenarios_mixed.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import infra, partitions, transformations
from bench.harness import (
    FULL,
    QUICK,
    RESULTS,
    Fixtures,
    Publishers,
    Sizes,
    flow_figures,
    in_background,
    ms_summary,
)
from bench.measure import Progress, baseline
from bench.scenarios_backlog import BacklogScenarios
from bench.scenarios_load import LoadScenarios
from bench.scenarios_mixed import MixedScenarios


class Bench(LoadScenarios, MixedScenarios, BacklogScenarios):
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
