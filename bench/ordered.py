"""Scenario 9: one ordered endpoint, a healthy fast receiver, a 300-event backlog.

An ordered endpoint gets one request at a time, so a sequential ``requests.Session`` loop
posting the same bodies to the same receiver is its natural ceiling: the figure is the drain's
rate as a ratio of that loop, measured in the same run just before (and again just after; the
ratio is against their mean). The 300 events are published in one ``publish_events`` call (one
transaction, ids in publish order) while the workers run; the clock runs from the publish to
the last success recorded. The receiver's arrival order is checked against publish order
exactly, and the gap between one request's answer and the next request is estimated per
request: the time between two arrivals less the loop's time per request (which is one request
and its answer with nothing in between).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.measure import EVENT_TYPE, PAD, Progress, baseline

EVENTS = 300
QUICK_EVENTS = 100


def run(bench: Any, *, quick: bool) -> dict[str, Any]:
    from deliveries import publish_events

    events = QUICK_EVENTS if quick else EVENTS
    posts = bench.sizes.baseline_posts
    runs = []
    for attempt in range(2):
        base_before = baseline(bench.receiver, bench.fixtures, posts)
        path = f"/ok/s9-{attempt}"
        tenant, endpoint_ids = bench.fixtures.tenant(
            f"s9-{attempt}", [path], {path: {"ordered": True}}
        )
        progress = Progress(endpoint_ids, events, bench.receiver.total)
        bench.receiver.reset()
        bench.cpu.start()
        t0 = time.time()
        published = publish_events(
            tenant,
            [{"event_type": EVENT_TYPE, "payload": {"n": n, "pad": PAD}} for n in range(events)],
        )
        done_at = progress.wait(t0, bench.sizes.timeout)
        cpu = bench.cpu.stop()
        stats = bench.receiver.stats()
        bench.quiesce(endpoint_ids)
        base_after = baseline(bench.receiver, bench.fixtures, posts)
        base = (base_before + base_after) / 2
        order = [r.event.pk for r in published]
        arrivals = sorted(
            (at, key.partition(" ")[0])
            for key, at in stats["arrivals"].items()
            if key.endswith(" " + path)
        )
        got = [msg_id for _, msg_id in arrivals]
        intervals = [b[0] - a[0] for a, b in zip(arrivals, arrivals[1:], strict=False)]
        loop_request = 1 / base
        gaps = sorted(max(0.0, i - loop_request) for i in intervals)
        seconds = (done_at or time.time()) - t0
        rate = events / seconds
        pace = (len(arrivals) - 1) / (arrivals[-1][0] - arrivals[0][0]) if len(arrivals) > 1 else 0
        runs.append(
            {
                "complete": done_at is not None,
                "deliveries_per_s": round(rate, 1),
                "baseline_per_s": round(base, 1),
                "baseline_before_after_per_s": [round(base_before, 1), round(base_after, 1)],
                "ratio": round(rate / base, 3),
                "arrival_pace_per_s": round(pace, 1),
                "arrival_pace_ratio": round(pace / base, 3),
                "in_exact_publish_order": got == order,
                "requests": stats["counts"].get(path, 0),
                "loop_ms_per_request": round(loop_request * 1000, 3),
                "gap_ms": {
                    "p50": round(statistics.median(gaps) * 1000, 2) if gaps else None,
                    "p90": round(gaps[int(0.9 * (len(gaps) - 1))] * 1000, 2) if gaps else None,
                },
                "seconds": round(seconds, 3),
                "cpu_s_per_1000": {k: round(v * 1000 / events, 3) for k, v in cpu.items()},
            }
        )
    worst = min(runs, key=lambda r: r["ratio"])  # the headline: the lower of the two
    return {
        "scenario": "9",
        "title": f"1 ordered endpoint, healthy fast receiver, {events}-event backlog",
        "events": events,
        **worst,
        "runs": runs,
    }


def one_line(r: dict[str, Any]) -> str:
    return "; ".join(
        f"{x['deliveries_per_s']}/s vs loop {x['baseline_per_s']}/s = {x['ratio']}x "
        f"(arrival pace {x['arrival_pace_ratio']}x), exact order {x['in_exact_publish_order']}, "
        f"{x['requests']} requests, gap after answer p50/p90 {x['gap_ms']['p50']}/"
        f"{x['gap_ms']['p90']} ms"
        for x in r["runs"]
    )
