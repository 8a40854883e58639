"""When to retry, how long to wait, and when to give up on an endpoint. Pure, no Django.

The schedule lists the delays between tries: with the default ``(5, 300, 1800, 7200, 18000,
36000, 36000)`` an event gets 8 tries over about 27.6 hours. Each delay is jittered by up to
``±jitter`` so that a receiver coming back from an outage is not hit by a synchronised wave.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"
    # 410 Gone: the receiver asked us to stop; the endpoint is disabled.
    GONE = "gone"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    delay: float | None = None  # seconds until the next try, when outcome is RETRY


RETRY_AFTER_STATUSES = frozenset({429, 503})


def is_success(status: int) -> bool:
    return 200 <= status < 300


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds from ``now`` that a ``Retry-After`` header asks for (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    # isdigit() alone accepts "²" or "١"; a receiver's header must never break recording.
    if value.isascii() and value.isdigit():
        return float(min(int(value), 10**9))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def jittered(delay: float, *, jitter: float, rng: random.Random | None = None) -> float:
    if jitter <= 0 or delay <= 0:
        return delay
    r = (rng or random).uniform(-jitter, jitter)
    return delay * (1 + r)


def decide(
    *,
    status: int,
    tries_so_far: int,
    schedule: tuple[float, ...],
    jitter: float,
    retry_after: float | None = None,
    retry_after_max: float = 3600,
    rng: random.Random | None = None,
) -> Decision:
    """What follows a try. ``tries_so_far`` counts scheduled tries including this one.

    ``status`` 0 means no response (timeout, refused, blocked). A ``Retry-After`` on 429/503
    replaces the scheduled delay, bounded by ``retry_after_max``, but still consumes a try, so a
    receiver cannot keep a delivery alive forever.
    """
    if is_success(status):
        return Decision(Outcome.SUCCEEDED)
    if status == 410:
        return Decision(Outcome.GONE)
    if tries_so_far > len(schedule):
        return Decision(Outcome.FAILED)
    if status in RETRY_AFTER_STATUSES and retry_after is not None:
        return Decision(Outcome.RETRY, min(max(retry_after, 0.0), retry_after_max))
    base = schedule[tries_so_far - 1]
    return Decision(Outcome.RETRY, jittered(base, jitter=jitter, rng=rng))


def should_disable(*, failing_since: datetime | None, now: datetime, after_seconds: float) -> bool:
    """An endpoint that has only failed for ``after_seconds`` is disabled."""
    return failing_since is not None and (now - failing_since).total_seconds() >= after_seconds
