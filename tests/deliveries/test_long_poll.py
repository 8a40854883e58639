"""Room for long polls to wait: per process, per API key in the cache, failing open."""

from __future__ import annotations

import logging

import pytest

from deliveries.long_poll import poll_wait_reserve, poll_waits_in_process
from tests.workers import free_port


def test_a_process_lets_only_its_cap_of_polls_wait(settings):
    settings.WEBHOOKS_POLL_WAITS_PER_PROCESS = 2
    settings.WEBHOOKS_POLL_WAITS_PER_KEY = 10

    with (
        poll_wait_reserve(key="wh_a", seconds=5) as first,
        poll_wait_reserve(key="wh_b", seconds=5) as second,
        poll_wait_reserve(key="wh_c", seconds=5) as third,
    ):
        held = poll_waits_in_process()

    assert (first, second, third) == (True, True, False)
    assert held == 2
    assert poll_waits_in_process() == 0


def test_one_key_waits_only_its_cap_while_other_keys_still_may(settings):
    settings.WEBHOOKS_POLL_WAITS_PER_PROCESS = 10
    settings.WEBHOOKS_POLL_WAITS_PER_KEY = 2

    with (
        poll_wait_reserve(key="wh_a", seconds=5) as a1,
        poll_wait_reserve(key="wh_a", seconds=5) as a2,
        poll_wait_reserve(key="wh_a", seconds=5) as a3,
        poll_wait_reserve(key="wh_b", seconds=5) as b1,
    ):
        assert poll_waits_in_process() == 3  # the refused one gave its process room back

    assert (a1, a2, a3, b1) == (True, True, False, True)
    with poll_wait_reserve(key="wh_a", seconds=5) as again:
        assert again  # the slots were given back


def test_room_is_given_back_when_the_wait_fails(settings):
    settings.WEBHOOKS_POLL_WAITS_PER_PROCESS = 1
    settings.WEBHOOKS_POLL_WAITS_PER_KEY = 1

    with pytest.raises(RuntimeError), poll_wait_reserve(key="wh_a", seconds=5):
        raise RuntimeError("the database went away mid-wait")

    with poll_wait_reserve(key="wh_a", seconds=5) as again:
        assert again


def test_a_cap_of_zero_means_polls_never_wait(settings):
    settings.WEBHOOKS_POLL_WAITS_PER_KEY = 0
    with poll_wait_reserve(key="wh_a", seconds=5) as may_wait:
        assert may_wait is False


def test_an_unreachable_cache_skips_the_per_key_cap_with_a_log_line(settings, caplog):
    closed = free_port()  # nothing listens there: connection refused, at once
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed}/0",
        }
    }
    settings.WEBHOOKS_POLL_WAITS_PER_PROCESS = 1
    settings.WEBHOOKS_POLL_WAITS_PER_KEY = 1

    with (
        caplog.at_level(logging.WARNING, logger="deliveries.long_poll"),
        poll_wait_reserve(key="wh_a", seconds=5) as may_wait,
        poll_wait_reserve(key="wh_b", seconds=5) as over_process_cap,
    ):
        pass

    assert may_wait is True
    assert over_process_cap is False  # the process's own cap still holds
    assert "the cache is unreachable; per-key cap skipped" in caplog.text
