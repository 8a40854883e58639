"""Server-rendered SVG charts of an endpoint's attempts: no chart library, works offline.

This module only computes geometry; ``templates/deliveries/_chart.html`` draws it, so every
label goes through the template engine's escaping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from endpoints.models import Endpoint

from .selectors import attempt_buckets

WIDTH = 720
HEIGHT = 180
PAD_LEFT = 36
PAD_BOTTOM = 22
PAD_TOP = 10


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


def _starts(now: datetime, unit: str) -> list[datetime]:
    local = timezone.localtime(now)
    if unit == "hour":
        first = local.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
        return [first + timedelta(hours=i) for i in range(24)]
    first = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=6)
    return [first + timedelta(days=i) for i in range(7)]


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
        when = f"{start:%H:00 %Z}" if unit == "hour" else f"{start:%a %d %b}"
        every = 3 if unit == "hour" else 1
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
                label=(f"{start:%H}h" if unit == "hour" else f"{start:%a}")
                if i % every == 0
                else "",
                title=f"{when}: {ok} delivered, {failed} failed",
            )
        )
    return Chart(
        title=(
            f"Last 24 hours, per hour ({timezone.localtime(now).strftime('%Z')})"
            if unit == "hour"
            else f"Last 7 days, per day ({timezone.localtime(now).strftime('%Z')})"
        ),
        bars=bars,
        max_value=max_value,
        ok_total=sum(v[0] for v in values),
        failed_total=sum(v[1] for v in values),
    )


def endpoint_charts(*, endpoint: Endpoint) -> list[Chart]:
    now = timezone.now()
    return [
        attempts_chart(endpoint=endpoint, unit="hour", now=now),
        attempts_chart(endpoint=endpoint, unit="day", now=now),
    ]
