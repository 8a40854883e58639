"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Playwright cannot download a browser here, so it is given /usr/bin/chromium. Where Chromium is
missing the tests skip, except in CI (CI=true), where a missing browser is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from ..conftest import PASSWORD
from .axe_check import axe_js  # noqa: F401  (a fixture for every browser test)

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse ORM
# calls from the test body ("you cannot call this from an async context").
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing; install it with `apt-get install chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed; pip install -e '.[dev]'")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser: Any, live_server: Any, **options: Any) -> Iterator[Any]:
    """A page in a fresh browser context on the live server (``options``: the context's)."""
    context = browser.new_context(base_url=live_server.url, **options)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def page(browser, live_server) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    yield from open_page(browser, live_server)


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    folder = Path(os.environ.get("DASHBOARD_SCREENSHOTS", settings.VAR_DIR / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def shot(page, screenshot_dir):  # type: ignore[no-untyped-def]
    """Save a full-page screenshot for reviewers: ``shot("endpoint-detail")``."""

    def take(name: str) -> Path:
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def sign_in(page):  # type: ignore[no-untyped-def]
    def go(username: str, password: str = PASSWORD) -> None:
        page.goto("/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()

    return go
