"""Server-rendered SVG charts of an endpoint's attempts: no chart library, works offline.

This module only computes geometry; ``templates/deliveries/_chart.html`` draws it, so every
label goes through the template engine's escaping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from endpoints.models import Endpoint

from .selectors import attempt_buckets, attempt_latency_buckets

# Drawn about as wide as it is shown (a card of 320-560 px), so that 12-unit text reads as
# 11-18 px, never shrunk to a few pixels.
WIDTH = 360
HEIGHT = 170
PAD_LEFT = 52
PAD_BOTTOM = 22
PAD_TOP = 12
FONT = 12


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    ok_y: float
    ok_h: float
    fail_y: float
    fail_h: float
    ok: int
    failed: int
    label: str
    title: str


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    max_value: int
    ok_total: int
    failed_total: int
    width: int = WIDTH
    height: int = HEIGHT
    pad_left: int = PAD_LEFT
    baseline: int = HEIGHT - PAD_BOTTOM
    top: int = PAD_TOP
    font: int = FONT

    @property
    def total(self) -> int:
        return self.ok_total + self.failed_total


def _starts(now: datetime, unit: str) -> list[datetime]:
    local = timezone.localtime(now)
    if unit == "hour":
        first = local.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
        return [first + timedelta(hours=i) for i in range(24)]
    first = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=6)
    return [first + timedelta(days=i) for i in range(7)]


def _axis_label(start: datetime, unit: str) -> str:
    return f"{start:%H}h" if unit == "hour" else f"{start:%a}"


def _bucket_name(start: datetime, unit: str) -> str:
    return f"{start:%H:00 %Z}" if unit == "hour" else f"{start:%a %d %b}"


def _span_title(unit: str, now: datetime | None) -> str:
    zone = timezone.localtime(now).strftime("%Z")
    span = "Last 24 hours, per hour" if unit == "hour" else "Last 7 days, per day"
    return f"{span} ({zone})"


def attempts_chart(*, endpoint: Endpoint, unit: str, now: datetime | None = None) -> Chart:
    starts = _starts(now or timezone.now(), unit)
    # Keyed by instant, not by datetime object: the database may return another tzinfo.
    counts = {
        int(k.timestamp()): v
        for k, v in attempt_buckets(endpoint=endpoint, since=starts[0], unit=unit).items()
    }
    values = [counts.get(int(s.timestamp()), (0, 0)) for s in starts]
    max_value = max([ok + failed for ok, failed in values] + [1])
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = (WIDTH - PAD_LEFT) / len(starts)
    bars = []
    for i, (start, (ok, failed)) in enumerate(zip(starts, values, strict=True)):
        ok_h = plot_h * ok / max_value
        fail_h = plot_h * failed / max_value
        base = HEIGHT - PAD_BOTTOM
        every = 6 if unit == "hour" else 1
        bars.append(
            Bar(
                x=round(PAD_LEFT + i * slot + slot * 0.15, 2),
                width=round(slot * 0.7, 2),
                ok_y=round(base - ok_h, 2),
                ok_h=round(ok_h, 2),
                fail_y=round(base - ok_h - fail_h, 2),
                fail_h=round(fail_h, 2),
                ok=ok,
                failed=failed,
                label=_axis_label(start, unit) if i % every == 0 else "",
                title=f"{_bucket_name(start, unit)}: {ok} attempts succeeded, {failed} failed",
            )
        )
    return Chart(
        title=_span_title(unit, now),
        bars=bars,
        max_value=max_value,
        ok_total=sum(v[0] for v in values),
        failed_total=sum(v[1] for v in values),
    )


@dataclass(frozen=True)
class LatencyPoint:
    x: float
    y50: float
    y95: float
    title: str
    #: No answered bucket beside it: drawn as a level across its slot, not a lone dot.
    alone: bool = False
    x1: float = 0
    x2: float = 0


@dataclass(frozen=True)
class LatencyChart:
    title: str
    points: list[LatencyPoint]  # buckets with answers only
    labels: list[tuple[float, str]]  # every bucket's x and axis label
    max_ms: int
    p50_line: str  # SVG polyline points
    p95_line: str
    width: int = WIDTH
    height: int = HEIGHT
    pad_left: int = PAD_LEFT
    baseline: int = HEIGHT - PAD_BOTTOM
    top: int = PAD_TOP
    font: int = FONT
    latest: str = ""  # the last bucket's figures, in words


def latency_chart(*, endpoint: Endpoint, unit: str, now: datetime | None = None) -> LatencyChart:
    """Time to an answer, p50 and p95 per bucket, on the same buckets as ``attempts_chart``."""
    now = now or timezone.now()
    starts = _starts(now, unit)
    found = {
        int(k.timestamp()): v
        for k, v in attempt_latency_buckets(endpoint=endpoint, since=starts[0], unit=unit).items()
    }
    max_ms = max([round(p95) for _, p95 in found.values()] + [1])
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    base = HEIGHT - PAD_BOTTOM
    slot = (WIDTH - PAD_LEFT) / len(starts)
    every = 6 if unit == "hour" else 1
    points, labels = [], []
    for i, start in enumerate(starts):
        x = round(PAD_LEFT + i * slot + slot * 0.5, 2)
        if i % every == 0:
            labels.append((round(PAD_LEFT + i * slot + slot * 0.15, 2), _axis_label(start, unit)))
        value = found.get(int(start.timestamp()))
        if value is None:
            continue
        p50, p95 = value
        beside = [starts[j] for j in (i - 1, i + 1) if 0 <= j < len(starts)]
        alone = all(int(s.timestamp()) not in found for s in beside)
        points.append(
            LatencyPoint(
                x=x,
                y50=round(base - plot_h * p50 / max_ms, 2),
                y95=round(base - plot_h * p95 / max_ms, 2),
                title=f"{_bucket_name(start, unit)}: p50 {p50:.0f} ms, p95 {p95:.0f} ms",
                alone=alone,
                x1=round(PAD_LEFT + i * slot + slot * 0.1, 2),
                x2=round(PAD_LEFT + (i + 1) * slot - slot * 0.1, 2),
            )
        )
    span = _span_title(unit, now)
    return LatencyChart(
        title=f"Time to an answer, {span[0].lower()}{span[1:]}",
        points=points,
        labels=labels,
        max_ms=max_ms,
        p50_line=" ".join(f"{p.x},{p.y50}" for p in points),
        p95_line=" ".join(f"{p.x},{p.y95}" for p in points),
        latest=points[-1].title if points else "",
    )


def endpoint_latency_charts(*, endpoint: Endpoint) -> list[LatencyChart]:
    now = timezone.now()
    return [
        latency_chart(endpoint=endpoint, unit="hour", now=now),
        latency_chart(endpoint=endpoint, unit="day", now=now),
    ]


def endpoint_charts(*, endpoint: Endpoint) -> list[Chart]:
    now = timezone.now()
    return [
        attempts_chart(endpoint=endpoint, unit="hour", now=now),
        attempts_chart(endpoint=endpoint, unit="day", now=now),
    ]
