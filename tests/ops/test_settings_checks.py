"""Bad delivery settings stop the platform at start-up with a clear message."""

from platform_core.conf import webhooks_settings
from webhooks_platform.checks import check_retired_settings, check_webhooks_settings


def _ids(settings_problems):
    return {p.id for p in settings_problems}


def test_the_retired_engine_switch_is_named_in_a_warning(monkeypatch):
    monkeypatch.setenv("WEBHOOKS_ENGINE", "classic")
    (warning,) = check_retired_settings(None)
    assert warning.id == "webhooks.W003"
    assert "WEBHOOKS_ENGINE is no longer read" in warning.msg


def test_no_warning_without_the_retired_switch(monkeypatch):
    monkeypatch.delenv("WEBHOOKS_ENGINE", raising=False)
    assert check_retired_settings(None) == []


def test_a_starting_window_above_the_maximum_is_an_error(settings):
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 200
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY_MAX = 128
    assert "webhooks.E008" in _ids(check_webhooks_settings(None))


def test_the_defaults_pass(settings):
    assert not _ids(check_webhooks_settings(None)) & {"webhooks.E008"}


def test_webhooks_settings_read_once_and_again_after_a_change(settings):
    first = webhooks_settings()
    assert webhooks_settings() is first  # one read per process, not one per publish
    settings.WEBHOOKS_ATTEMPT_TIMEOUT = first.attempt_timeout + 7
    changed = webhooks_settings()
    assert changed is not first
    assert changed.attempt_timeout == first.attempt_timeout + 7
    settings.DEBUG = not settings.DEBUG  # not one of ours: the read stays
    assert webhooks_settings() is changed


def test_a_cookie_samesite_must_be_known_and_none_needs_secure(settings):
    settings.SESSION_COOKIE_SAMESITE = "lax-ish"
    assert "webhooks.E020" in _ids(check_webhooks_settings(None))
    settings.SESSION_COOKIE_SAMESITE = "None"
    settings.SESSION_COOKIE_SECURE = False
    assert "webhooks.E021" in _ids(check_webhooks_settings(None))
    settings.SESSION_COOKIE_SECURE = True
    assert not _ids(check_webhooks_settings(None)) & {"webhooks.E020", "webhooks.E021"}


def test_negative_poll_wait_caps_are_an_error(settings):
    from webhooks_platform.checks import check_operations_settings

    assert "webhooks.E030" not in _ids(check_operations_settings(None))
    settings.WEBHOOKS_POLL_WAITS_PER_KEY = -1
    assert "webhooks.E030" in _ids(check_operations_settings(None))
