"""Scenarios 5 and 6, big tables and backlogs: 5 the delivery log and attempt lists with a million
attempts in the database (``bench/logload.py``), 6 a backlog to one endpoint published with no
worker running, then drained by each of ``--drain-workers``. Methods of ``bench.run.Bench``."""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from bench import infra
from bench.harness import (
    flow_figures,
    http_ceiling,
)
from bench.measure import EVENT_TYPE, PAD, Progress, baseline, succeeded_count


class BacklogScenarios:
    """Scenarios 5 and 6 (``Bench`` measures them)."""

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
