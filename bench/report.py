"""The Markdown table (``README.md``) and PNG plots of one run's results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(results: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    lines = [
        "# Benchmark results"
        + (" (quick mode: tiny sizes, not comparable)" if meta["quick"] else ""),
        "",
        f"Run {meta['when']} in {meta['wall_seconds']} s on {m['cpus']} CPUs ({m['cpu_model']}), "
        f"{m['memory_gb']} GB, Python {m['python']}, PostgreSQL {m['postgres']}; "
        f"{meta['workers']} Celery worker processes × {meta['concurrency']} threads, Redis broker. "
        "Database, broker, workers, receiver and publishers share the machine.",
        "",
        "Ratio = our deliveries/s ÷ one `requests.Session` posting the same bodies to the same "
        "receiver one at a time with no bookkeeping, measured just before each scenario.",
        "",
        "| scenario | deliveries | our /s | baseline /s | ratio | publish p50 / p99 ms "
        "| end-to-end p50 / p95 / p99 ms | CPU s per 1,000 (workers / pg / redis) |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    for key, r in results.items():
        if key in ("5", "6", "9", "11"):
            continue
        cpu = r["cpu_s_per_1000"]
        pub = r["publish_latency_ms"]
        e2e = r["e2e_latency_ms"]
        done = f"{r['deliveries_done']:,}" + ("" if r["complete"] else " (timed out)")
        lines.append(
            f"| {key}: {r['title']} | {done} | {_fmt(r['deliveries_per_s'])} "
            f"| {_fmt(r['baseline_per_s'])} | {_fmt(r['ratio'])} "
            f"| {_fmt(pub['p50'])} / {_fmt(pub['p99'])} "
            f"| {_fmt(e2e['p50'])} / {_fmt(e2e['p95'])} / {_fmt(e2e['p99'])} "
            f"| {_fmt(cpu['workers'])} / {_fmt(cpu['postgres'])} / {_fmt(cpu['redis'])} |"
        )
        for paced in r.get("paced", []):
            pe = paced["e2e_latency_ms"]
            lines.append(
                f"| 1-paced: {paced['title']} | {paced['deliveries_done']:,} | – | – | – "
                f"| {_fmt(paced['publish_latency_ms']['p50'])} / "
                f"{_fmt(paced['publish_latency_ms']['p99'])} "
                f"| {_fmt(pe['p50'])} / {_fmt(pe['p95'])} / {_fmt(pe['p99'])} | – |"
            )
    extra = []
    for key in ("3", "4"):
        r = results.get(key)
        if r:
            extra.append(
                f"- Scenario {key}: healthy endpoints at {_fmt(r['deliveries_per_s'])}/s = "
                f"{_fmt(r.get('vs_all_healthy'))} × the all-healthy control and "
                f"{_fmt(r.get('vs_scenario_1'))} × scenario 1."
            )
    s7 = results.get("7")
    if s7:
        extra.append(
            f"- Scenario 7: plain endpoints at {_fmt(s7['deliveries_per_s'])}/s = "
            f"{_fmt(s7.get('vs_all_healthy'))} × its all-plain control "
            f"({_fmt(s7['control']['deliveries_per_s'])}/s); "
            f"{s7['ordered_in_publish_order']} of {s7['ordered_endpoints']} ordered endpoints "
            f"received every event in publish order, at {_fmt(s7['ordered_per_endpoint_per_s'])}"
            f"/s each (one at a time; {_fmt(s7.get('ordered_ratio'))} × the loop); "
            f"filtered-out endpoints got "
            f"{s7['filtered_out_requests']} requests."
        )
    if results.get("11"):
        from bench import partitions

        extra.append(f"- Scenario 11: {partitions.one_line(results['11'])}.")
    s9 = results.get("9")
    if s9:
        extra.append(
            f"- Scenario 9 ({s9['title']}; two drains, each between two loop baselines): "
            + "; ".join(
                f"{_fmt(x['deliveries_per_s'])}/s = {_fmt(x['ratio'])} × the loop "
                f"({_fmt(x['baseline_per_s'])}/s), in exact publish order: "
                f"{x['in_exact_publish_order']}, gap between an answer and the next request "
                f"p50 {_fmt(x['gap_ms']['p50'])} ms"
                for x in s9["runs"]
            )
            + "."
        )
    s8 = results.get("8")
    if s8:
        extra.append(
            f"- Scenario 8: the push endpoint at {_fmt(s8['deliveries_per_s'])}/s; its poll "
            f"twin's feed read from the start at {_fmt(s8.get('feed_read_per_s'))} events/s "
            f"({_fmt(s8.get('feed_vs_push'))} × the push rate; {s8.get('feed_pages')} pages of "
            "up to 250, one reader, the service called in the bench process)."
        )
    if "2" in results and results["2"].get("publish_latency_note"):
        extra.append(f"- Scenario 2's publish latency: {results['2']['publish_latency_note']}.")
    bad = sum(r.get("signatures", {}).get("bad", 0) for r in results.values())
    checked = sum(r.get("signatures", {}).get("verified", 0) for r in results.values())
    extra.append(f"- Signatures checked by the receiver: {checked} verified, {bad} bad.")
    lines += ["", *extra]
    s6 = results.get("6")
    if s6:
        lines += [
            "",
            f"## Scenario 6: {s6['title']}",
            "",
            "Published with `publish_events` while no worker ran; the clock starts when the "
            "workers are ready. Worker RSS is the largest resident set of any worker process.",
            "",
            "HTTP ceiling: aiohttp with 64 requests in flight, same bodies and receiver, no "
            "database, measured beside the baseline.",
            "",
            "`readme`: the README's worker command (`manage.py run_worker`, one Celery worker per "
            "core); `frontier`: the bare-bones engine (`bench/frontier.py`), one process per "
            "core; a number: that many plain Celery workers.",
            "",
            "| workers (processes) | our /s | baseline /s | ratio | of frontier "
            "| HTTP ceiling /s (× baseline) | ours ÷ ceiling | seconds | worker RSS max MB "
            "| CPU s per 1,000 (workers / pg / pg backends / redis) | × 1 worker (rate, ratio) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for n, w in s6["by_workers"].items():
            cpu = w["cpu_s_per_1000"]
            lines.append(
                f"| {n} ({w.get('worker_processes', '–')}) | {_fmt(w['deliveries_per_s'])} "
                f"| {_fmt(w['baseline_per_s'])} | {_fmt(w['ratio'])} "
                f"| {_fmt(w.get('of_frontier'))} | {_fmt(w.get('http_ceiling_per_s'))} "
                f"({_fmt(w.get('ceiling_ratio'))}) | {_fmt(w.get('fraction_of_ceiling'))} "
                f"| {_fmt(w['seconds'])} | {_fmt(w['worker_rss_mb_max'])} "
                f"| {_fmt(cpu['workers'])} / {_fmt(cpu['postgres'])} / "
                f"{_fmt(cpu.get('postgres_backends'))} / {_fmt(cpu['redis'])} "
                f"| {_fmt(w.get('vs_1_worker', {}).get('rate'))}, "
                f"{_fmt(w.get('vs_1_worker', {}).get('ratio'))} |"
            )
    s5 = results.get("5")
    if s5:
        lines += [
            "",
            f"## Scenario 5: {s5['title']}",
            "",
            f"Loaded in {s5['load_seconds']} s; {s5['requests_per_page']} requests per page "
            "through Django's test client (no HTTP server).",
            "",
            "| page | p50 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {p['name']} | {p['p50_ms']} | {p['p99_ms']} | {p['max_ms']} |" for p in s5["pages"]
        ]
    lines += [
        "",
        "Plots: `throughput.png`, `progress.png`, `latency.png`, `cpu.png`"
        + (", `pages.png`" if s5 else "")
        + ".",
        "",
    ]
    return "\n".join(lines)


def plots(out: Path, results: dict[str, dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flows = {k: r for k, r in results.items() if k not in ("5", "6", "9", "11")}
    if flows:
        keys = list(flows)
        fig, ax = plt.subplots(figsize=(8, 4))
        xs = range(len(keys))
        ours = [flows[k]["deliveries_per_s"] for k in keys]
        base = [flows[k]["baseline_per_s"] for k in keys]
        ax.bar([x - 0.2 for x in xs], ours, 0.4, label="ours")
        ax.bar([x + 0.2 for x in xs], base, 0.4, label="baseline")
        ax.set_xticks(list(xs), keys)
        ax.set_ylabel("deliveries / s")
        ax.set_title("Throughput vs requests.Session baseline (same run)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "throughput.png", dpi=100)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(8, 4))
        for k, r in flows.items():
            if r["timeline"]:
                ts, ns = zip(*r["timeline"], strict=True)
                ax.plot(ts, ns, label=f"{k}")
        ax.set_xlabel("seconds since first publish")
        ax.set_ylabel("deliveries succeeded (recorded)")
        ax.set_title("Progress")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "progress.png", dpi=100)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(8, 4))
        series = {k: r["latencies_ms"] for k, r in flows.items() if r["latencies_ms"]}
        for paced in flows.get("1", {}).get("paced", []):
            if paced["latencies_ms"]:
                series[f"1-paced {paced['offered_rate']}/s"] = paced["latencies_ms"]
        for k, lat in series.items():
            ax.plot(lat, [i / len(lat) for i in range(len(lat))], label=k)
        ax.set_xscale("log")
        ax.set_xlabel("publish → arrival, ms (log)")
        ax.set_ylabel("fraction of deliveries")
        ax.set_title("End-to-end latency (CDF)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "latency.png", dpi=100)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(8, 4))
        bottom = [0.0] * len(keys)
        for part in ("workers", "postgres", "redis", "receiver", "publisher"):
            values = [flows[k]["cpu_s_per_1000"].get(part, 0) for k in keys]
            ax.bar(keys, values, bottom=bottom, label=part)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_ylabel("CPU seconds per 1,000 deliveries")
        ax.set_title("Where the CPU goes")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "cpu.png", dpi=100)
        plt.close(fig)

    s5 = results.get("5")
    if s5:
        names = [p["name"] for p in s5["pages"]]
        fig, ax = plt.subplots(figsize=(9, 5))
        ys = range(len(names))
        ax.barh([y - 0.2 for y in ys], [p["p50_ms"] for p in s5["pages"]], 0.4, label="p50")
        ax.barh([y + 0.2 for y in ys], [p["p99_ms"] for p in s5["pages"]], 0.4, label="p99")
        ax.axvline(150, color="red", linestyle="--", label="target p99")
        ax.set_yticks(list(ys), names)
        ax.invert_yaxis()
        ax.set_xlabel("ms")
        ax.set_title(s5["title"])
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "pages.png", dpi=100)
        plt.close(fig)


def write(out: Path, results: dict[str, dict[str, Any]], meta: dict[str, Any]) -> None:
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    (out / "README.md").write_text(table(results, meta))
    plots(out, results)
