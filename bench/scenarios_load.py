"""Scenarios 1 to 4, load on plain endpoints: 1 many events to one endpoint (plus end-to-end
latency at a fixed offered rate), 2 one event fanned out to many endpoints, 3 10% of endpoints
slow (and its all-healthy control), 4 20% of endpoints failing. Methods of ``bench.run.Bench``."""

from __future__ import annotations

import time
from typing import Any

from bench.harness import (
    ms_summary,
)
from bench.measure import EVENT_TYPE, PAD


class LoadScenarios:
    """Scenarios 1 to 4 (``Bench`` measures them)."""

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
