"""Accessibility: axe-core (npm) on every page a tenant, a read-only member and support use, and
the form behaviour a screen-reader user needs (errors tied to their fields, focus on the first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..conftest import make_user
from .axe_check import violations as _violations
from .conftest import open_page
from .site_pages import build_scene, pages_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def page(browser, live_server):  # type: ignore[no-untyped-def]
    """As the suite's page, except that axe's script may be injected past the CSP (which
    allows our own scripts only, and stays on for the pages under test)."""
    yield from open_page(browser, live_server, bypass_csp=True)


@pytest.fixture
def scene(tenant, invoice_paid):  # type: ignore[no-untyped-def]
    return build_scene(tenant, invoice_paid, make_user("sue", is_staff=True))


@pytest.fixture
def pages(scene):  # type: ignore[no-untyped-def]
    return [p.url(scene) for p in pages_for("tenant")]


def _check(page: Any, axe_js: Path, paths: list[str]) -> dict[str, list[str]]:
    failures = {}
    for path in paths:
        page.goto(path)
        assert page.url.rstrip("/").endswith(path.split("?")[0].rstrip("/")) or "?" in path, (
            f"{path} redirected to {page.url}"
        )
        found = _violations(page, axe_js)
        if found:
            failures[path] = found
    return failures


def test_tenant_pages_have_no_serious_violations(page, sign_in, tenant, pages, axe_js):
    make_user("alice", tenants=(tenant,))
    sign_in("alice")

    failures = _check(page, axe_js, pages)
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_read_only_member_pages_have_no_serious_violations(page, sign_in, tenant, scene, axe_js):
    from endpoints.models import Membership

    user = make_user("rita", tenants=(tenant,))
    Membership.objects.filter(user=user).update(role=Membership.Role.VIEWER)
    sign_in("rita")

    readable = [p.url(scene) for p in pages_for("tenant", read_only=True)]
    failures = _check(page, axe_js, readable)
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


@pytest.mark.parametrize(("theme", "accent"), [("dark", "#ffe033"), ("light", "#1d4ed8")])
def test_a_themed_portal_has_no_serious_violations(
    page, sign_in, tenant, pages, axe_js, theme, accent
):
    """A tenant's theme and accent (a pale yellow on dark, a deep blue on light) keep every
    text readable: the text on the accent and the links are chosen for contrast."""
    tenant.portal_theme = theme
    tenant.portal_accent_color = accent
    tenant.save()
    make_user("tess", tenants=(tenant,))
    sign_in("tess")

    failures = _check(page, axe_js, pages)
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_support_and_sign_in_pages_have_no_serious_violations(page, sign_in, scene, axe_js):
    page.goto("/login/")
    assert _violations(page, axe_js) == []
    make_user("sam", is_staff=True)
    sign_in("sam")

    paths = [p.url(scene) for p in pages_for("support")]
    failures = _check(page, axe_js, paths)
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_a_form_error_is_tied_to_its_field_and_takes_the_focus(page, sign_in, tenant, axe_js):
    make_user("alice", tenants=(tenant,))
    sign_in("alice")
    page.goto("/endpoints/new/")

    page.fill("#id_url", "not a url")
    page.click("text=Create endpoint")

    url = page.locator("#id_url")
    assert url.get_attribute("aria-invalid") == "true"
    described = (url.get_attribute("aria-describedby") or "").split()
    assert described
    assert page.locator(f"#{described[0]}").inner_text().strip()
    assert page.evaluate("document.activeElement.id") == "id_url"
    assert _violations(page, axe_js) == []


def test_flash_messages_are_announced_and_a_skip_link_leads_to_the_content(
    page, sign_in, tenant, invoice_paid
):
    make_user("alice", tenants=(tenant,))
    sign_in("alice")
    page.goto("/endpoints/new/")
    page.fill("#id_url", "http://127.0.0.1:9/new")
    page.click("text=Create endpoint")

    assert page.locator(".messages").get_attribute("role") == "status"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
