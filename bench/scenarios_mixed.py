"""Scenarios 7 to 9, other kinds of endpoint beside plain ones: 7 ordered and filtered endpoints,
8 a push and a poll endpoint, 9 one ordered endpoint draining a backlog (``bench/ordered.py``).
Methods of ``bench.run.Bench``."""

from __future__ import annotations

import os
import time
from typing import Any

from bench import infra
from bench.harness import QUICK
from bench.measure import Progress, baseline


def ordered_trace(endpoint_ids: list[str], arrivals: dict[str, float]) -> dict[str, Any]:
    """Where an ordered delivery's time goes, as means in ms, for the deliveries sent while the
    plain endpoints were still being served (before the last ``/ok/`` arrival) and for those
    sent after: from the send (the attempt's start) to its arrival at the receiver, from the
    arrival to its record (``finished_at``), and from the endpoint's previous record to this
    send (the engine's turn)."""
    from deliveries.models import Attempt, Delivery

    plain_end = max((at for k, at in arrivals.items() if " /ok/" in k), default=0.0)
    sent = dict(
        Attempt.objects.filter(endpoint_id__in=endpoint_ids, number=1).values_list(
            "delivery_id", "started_at"
        )
    )
    rows = Delivery.objects.filter(endpoint_id__in=endpoint_ids).values_list(
        "pk", "event_id", "endpoint_id", "endpoint__url", "finished_at"
    )
    spans: dict[str, list[tuple[float, float, float]]] = {}
    for pk, event_id, endpoint_id, url, finished in rows:
        arrived = arrivals.get(f"{event_id} /{url.split('/', 3)[3]}")
        if pk in sent and arrived is not None and finished is not None:
            spans.setdefault(endpoint_id, []).append(
                (sent[pk].timestamp(), arrived, finished.timestamp())
            )
    parts: dict[str, dict[str, list[float]]] = {
        phase: {"to_receiver": [], "to_record": [], "turn": []} for phase in ("during", "after")
    }
    for rows_ in spans.values():
        rows_.sort()
        previous = None
        for start, arrived, finished in rows_:
            part = parts["during" if start < plain_end else "after"]
            part["to_receiver"].append(arrived - start)
            part["to_record"].append(finished - arrived)
            if previous is not None:
                part["turn"].append(start - previous)
            previous = finished
    return {
        f"{phase}_plain": {
            "deliveries": len(part["to_receiver"]),
            **{k: round(1000 * sum(v) / len(v), 1) if v else None for k, v in part.items()},
        }
        for phase, part in parts.items()
    }


class MixedScenarios:
    """Scenarios 7 to 9 (``Bench`` measures them)."""

    def scenario_7(self) -> dict[str, Any]:
        """Ordered and filtered endpoints beside plain ones: 10 % ordered, 10 % with a filter
        every event passes, 10 % with one no event passes, the rest plain. The rate is the plain
        endpoints' (against a control of as many plain ones); then the ordered ones' own
        figures, and whether each received its events in publish order (one publisher, so that
        publish order is one process's, ids only growing)."""
        s = self.sizes
        n = s.s34_endpoints
        tenth = max(1, n // 10)
        # The ordered endpoints post to a receiver of their own (a second instance on its own
        # port), and their ratio is against the loop measured on that receiver: in production
        # each endpoint is its own server, and one receiver process saturated by the plain
        # endpoints' requests queued every ordered request behind them (the bench's limit, not
        # the platform's). BENCH_S7_SHARED_RECEIVER=1: all on the one receiver, as before.
        shared = os.environ.get("BENCH_S7_SHARED_RECEIVER") == "1"
        if shared:
            ordered_receiver = self.receiver
        else:
            if getattr(self, "ordered_receiver", None) is None:
                self.ordered_receiver = infra.Receiver(self.logs, name="receiver-ordered")
                self.ordered_receiver.register_secrets({"*": self.fixtures.secret})
            ordered_receiver = self.ordered_receiver
        kinds = (
            [("ordered", {"ordered": True})] * tenth
            + [("passes", {"payload_filter": {"data.n": {"$gte": 0}}})] * tenth
            + [("blocked", {"payload_filter": {"data.n": {"$lt": 0}}})] * tenth
        )
        paths = [f"/{kind}/s7-{i}" for i, (kind, _) in enumerate(kinds)]
        options = {p: fields for p, (_, fields) in zip(paths, kinds, strict=True)}
        for p in paths[:tenth]:
            options[p] = {**options[p], "url": f"{ordered_receiver.base}{p}"}
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
            if ordered_receiver is not self.receiver:
                arrivals.update(ordered_receiver.stats()["arrivals"])
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
            trace = ordered_trace(ordered, arrivals)
            seconds = (done or time.time()) - t0
            return {
                "ordered_endpoints": len(ordered),
                "ordered_in_publish_order": in_order,
                "ordered_and_passing_seconds": round(seconds, 3),
                "ordered_per_endpoint_per_s": round(events / seconds, 1) if seconds else None,
                "filtered_out_requests": blocked,
                "ordered_trace_ms": trace,
            }

        # The loop on the ordered endpoints' receiver, before it sees their requests.
        loop = baseline(ordered_receiver, self.fixtures, s.baseline_posts)
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
        result["ordered_receiver"] = "shared" if shared else "own"
        result["ordered_baseline_per_s"] = round(loop, 1)
        if result["ordered_per_endpoint_per_s"]:
            result["ordered_ratio"] = round(result["ordered_per_endpoint_per_s"] / loop, 3)
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
