import random
from datetime import UTC, datetime, timedelta

import pytest

from deliveries import policy

SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)


def test_default_schedule_is_eight_tries_over_about_27_6_hours():
    assert len(SCHEDULE) + 1 == 8
    assert sum(SCHEDULE) / 3600 == pytest.approx(27.58, abs=0.01)


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_succeeds(status):
    assert policy.decide(status=status, tries_so_far=1, schedule=SCHEDULE, jitter=0).outcome == (
        policy.Outcome.SUCCEEDED
    )


@pytest.mark.parametrize("status", [0, 301, 302, 400, 404, 500, 503])
def test_everything_else_retries_on_the_schedule(status):
    for tries, expected in enumerate(SCHEDULE, start=1):
        decision = policy.decide(status=status, tries_so_far=tries, schedule=SCHEDULE, jitter=0)
        assert decision == policy.Decision(policy.Outcome.RETRY, expected)


def test_schedule_exhausted_after_the_eighth_try():
    decision = policy.decide(status=500, tries_so_far=8, schedule=SCHEDULE, jitter=0)
    assert decision.outcome is policy.Outcome.FAILED


def test_410_is_gone():
    decision = policy.decide(status=410, tries_so_far=1, schedule=SCHEDULE, jitter=0)
    assert decision.outcome is policy.Outcome.GONE


def test_jitter_stays_within_twenty_percent():
    rng = random.Random(7)
    delays = [
        policy.decide(status=500, tries_so_far=2, schedule=SCHEDULE, jitter=0.2, rng=rng).delay
        for _ in range(500)
    ]
    assert min(delays) >= 240
    assert max(delays) <= 360
    assert max(delays) - min(delays) > 60  # it really varies


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_replaces_the_delay_and_is_bounded(status):
    honoured = policy.decide(
        status=status, tries_so_far=1, schedule=SCHEDULE, jitter=0, retry_after=42
    )
    bounded = policy.decide(
        status=status,
        tries_so_far=1,
        schedule=SCHEDULE,
        jitter=0,
        retry_after=10**9,
        retry_after_max=3600,
    )
    assert honoured == policy.Decision(policy.Outcome.RETRY, 42)
    assert bounded == policy.Decision(policy.Outcome.RETRY, 3600)


def test_retry_after_on_500_is_ignored():
    decision = policy.decide(
        status=500, tries_so_far=1, schedule=SCHEDULE, jitter=0, retry_after=99
    )
    assert decision.delay == 5


def test_retry_after_parses_seconds_and_http_dates():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert policy.parse_retry_after("120", now=now) == 120
    assert policy.parse_retry_after("Thu, 01 Jan 2026 12:01:30 GMT", now=now) == 90
    assert policy.parse_retry_after("soon", now=now) is None
    assert policy.parse_retry_after(None, now=now) is None


def test_should_disable_after_the_threshold():
    now = datetime(2026, 1, 10, tzinfo=UTC)
    five_days = 5 * 86400
    assert policy.should_disable(
        failing_since=now - timedelta(days=5), now=now, after_seconds=five_days
    )
    assert not policy.should_disable(
        failing_since=now - timedelta(days=4, hours=23), now=now, after_seconds=five_days
    )
    assert not policy.should_disable(failing_since=None, now=now, after_seconds=five_days)


@pytest.mark.parametrize("value", ["²", "١٢", "-5", "1e3", "99999999999999999999999"])
def test_odd_retry_after_values_never_raise(value):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    parsed = policy.parse_retry_after(value, now=now)
    assert parsed is None or 0 <= parsed <= 10**9
