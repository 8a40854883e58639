"""Scenario 9: transformations. Two questions, each answered by A/B runs interleaved in one
session (``--scenario 9``):

- what a trivial transformation costs: deliveries/s to one endpoint whose script returns the
  webhook unchanged, against the same run with no transformation;
- whether hostile scripts slow anyone else: one healthy endpoint's deliveries/s beside an
  endpoint whose script loops until its limit and one that allocates a gigabyte, against the
  healthy endpoint alone.

Each pair runs twice, in A B A B order; the ratios are of the sums.
"""

from __future__ import annotations

from typing import Any

TRIVIAL = "function handler(webhook) { return webhook; }"
LOOP = "function handler(webhook) { while (true) {} }"
ALLOCATE = "function handler(webhook) { const a = new Array(2 ** 28).fill(0); return webhook; }"
ROUNDS = 2


def _with_code(code: str) -> dict[str, Any]:
    return {"transformation_enabled": True, "_code": code}


def scenario_10(bench: Any) -> dict[str, Any]:
    s = bench.sizes
    events = max(100, s.s1_events // 6)
    runs: list[dict[str, Any]] = []

    def run(key: str, title: str, paths: list[str], options: dict[str, Any]) -> dict[str, Any]:
        slug = f"s10-{len(runs)}"
        result = bench.deliver(
            key=key,
            title=title,
            slug=slug,
            paths=[p + f"-{len(runs)}" for p in paths],
            healthy_prefix="/ok/",
            events=events,
            options={p + f"-{len(runs)}": o for p, o in options.items()},
        )
        runs.append(result)
        return result

    plain, trivial, alone, beside = [], [], [], []
    for _ in range(ROUNDS):
        plain.append(run("10-none", f"{events:,} events, no transformation", ["/ok/s9n"], {}))
        trivial.append(
            run(
                "10-trivial",
                f"{events:,} events, a trivial transformation",
                ["/ok/s9t"],
                {"/ok/s9t": _with_code(TRIVIAL)},
            )
        )
    for _ in range(ROUNDS):
        alone.append(run("10-alone", f"{events:,} events to a healthy endpoint", ["/ok/s9a"], {}))
        beside.append(
            run(
                "10",
                f"{events:,} events to a healthy endpoint beside a looping and a 1 GB script",
                ["/ok/s9h", "/hostile/s9loop", "/hostile/s9alloc"],
                {"/hostile/s9loop": _with_code(LOOP), "/hostile/s9alloc": _with_code(ALLOCATE)},
            )
        )

    def rate(results: list[dict[str, Any]]) -> float:
        return sum(r["deliveries_per_s"] for r in results)

    result = dict(beside[-1])
    result["scenario"] = "10"
    result["title"] = (
        f"{events:,} events to a healthy endpoint beside a looping and a 1 GB allocating script"
    )
    result["healthy_vs_alone"] = round(rate(beside) / rate(alone), 3)
    result["trivial_vs_none"] = round(rate(trivial) / rate(plain), 3)
    result["runs"] = [
        {k: r[k] for k in ("scenario", "title", "deliveries_per_s", "baseline_per_s", "ratio")}
        for r in runs
    ]
    return result
