"""Retry schedules an endpoint or an event type may carry instead of the platform's.

A schedule is the list of delays, in seconds, between a delivery's failed tries: ``[5, 300]``
means a retry 5 seconds after the first failure and one 5 minutes after the second, then the
delivery fails. ``[]`` means no retries at all; ``None`` means "inherit" (the event type's, then
the platform's ``WEBHOOKS_RETRY_SCHEDULE``). The dashboard writes them as durations
("5s, 5m, 30m, 2h, 1d"); the API as numbers of seconds.
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_RETRIES = 30
MIN_DELAY = 1.0  # seconds; a faster retry only hammers a receiver that is already failing
MAX_DELAY = 7 * 24 * 3600.0  # a week between two tries

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)", re.IGNORECASE)


class ScheduleError(ValueError):
    """A schedule that cannot be stored; the message says which delay and why."""


def _seconds_text(seconds: float) -> str:
    whole = int(seconds)
    return str(whole) if whole == seconds else f"{seconds:g}"


def schedule_validate(value: Any) -> list[float] | None:
    """``value`` as stored (a list of delays in seconds), or None to inherit."""
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise ScheduleError(
            "Give a list of delays in seconds, such as [5, 300, 1800], [] for no retries, "
            "or null for the platform's schedule."
        )
    if len(value) > MAX_RETRIES:
        raise ScheduleError(f"At most {MAX_RETRIES} retries; got {len(value)}.")
    delays: list[float] = []
    for number, delay in enumerate(value, start=1):
        number_like = isinstance(delay, int | float) and not isinstance(delay, bool)
        if not number_like or (isinstance(delay, float) and not math.isfinite(delay)):
            raise ScheduleError(f"Retry {number}: give a number of seconds; got {delay!r:.40}.")
        if not MIN_DELAY <= delay <= MAX_DELAY:
            shown = _seconds_text(delay) if abs(delay) < 10**15 else "a number too large to hold"
            raise ScheduleError(
                f"Retry {number}: a delay is between {MIN_DELAY:g} second and 7 days "
                f"({MAX_DELAY:g} seconds); got {shown}."
            )
        delays.append(int(delay) if float(delay).is_integer() else float(delay))
    return delays


def schedule_parse(text: str) -> list[float] | None:
    """A schedule written as durations ("5s, 5m, 30m, 2h, 1d"; a bare number is seconds).
    Empty: None (inherit); "none": no retries."""
    text = (text or "").strip()
    if not text:
        return None
    if text.lower() in {"none", "no retries", "[]"}:
        return []
    delays: list[float] = []
    for number, part in enumerate(re.split(r"[,\s]+", text.strip(" ,")), start=1):
        match = _DURATION.fullmatch(part)
        if not match:
            raise ScheduleError(
                f"Retry {number}: {part[:20]!r} is not a duration; write them as 30s, 5m, 2h "
                "or 1d, separated by commas."
            )
        amount, unit = match.groups()
        delays.append(float(amount) * _UNITS[(unit or "s").lower()])
    return schedule_validate(delays)


def schedule_text(schedule: list[float] | tuple[float, ...] | None) -> str:
    """The form's writing of ``schedule``: "5s, 5m, 2h"; "" to inherit, "none" for none."""
    if schedule is None:
        return ""
    if not schedule:
        return "none"
    parts = []
    for delay in schedule:
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if delay >= size and delay % size == 0:
                parts.append(f"{int(delay // size)}{unit}")
                break
        else:
            parts.append(f"{_seconds_text(delay)}s")
    return ", ".join(parts)
