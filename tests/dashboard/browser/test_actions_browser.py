"""The pages of the dashboard's newer actions in a real browser, at a desktop's 1366 px and a
phone's 390 px: axe-core finds no serious WCAG 2.1 A/AA violation, nothing scrolls sideways, and
the flows work by clicking (API key shown once, a scheduled event cancelled, a member added)."""

# ruff: noqa: F811
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deliveries import publish_event
from deliveries.models import Delivery
from deliveries.services.fanout import event_fan_out
from endpoints.models import ApiKey, Endpoint
from endpoints.services import endpoint_create

from ..conftest import make_delivery, make_user

# The accessibility suite's fixtures (the CSP bypassed for axe's script only, axe-core from
# npm); pytest finds a fixture by its name here, so the tests' parameters redefine them (F811).
from .axe_check import violations as _violations
from .test_accessibility import page  # noqa: F401  (axe injected past the CSP)

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
LONG_URL = "http://127.0.0.1:9/" + "a-long-path-segment/" * 10 + "hook"


def _overflow(page: Any) -> int:
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def _check_here(page: Any, axe_js: Any, failures: dict[str, list[str]], name: str) -> None:
    found = _violations(page, axe_js)
    if _overflow(page) > 0:
        found.append(f"scrolls sideways by {_overflow(page)} px")
    if found:
        failures[name] = found


@pytest.fixture
def world(tenant, invoice_paid):  # type: ignore[no-untyped-def]
    endpoint, _ = endpoint_create(tenant=tenant, url=LONG_URL, event_types=["invoice.paid"])
    poll, _ = endpoint_create(tenant=tenant, kind=Endpoint.Kind.POLL)
    failed = make_delivery(endpoint, invoice_paid)
    Delivery.objects.filter(pk=make_delivery(endpoint, invoice_paid).pk).update(
        status="pending", next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    ordered, _ = endpoint_create(tenant=tenant, url=LONG_URL + "/ordered", ordered=True)
    head = make_delivery(ordered, invoice_paid, status=Delivery.Status.PENDING)
    event = publish_event(
        tenant, "invoice.paid", {"n": 1}, deliver_at=timezone.now() + timedelta(hours=2)
    )
    event_fan_out(event_id=event.pk)
    return {"endpoint": endpoint, "failed": failed, "scheduled": event, "head": head, "poll": poll}


@pytest.mark.parametrize("size", list(SIZES))
def test_tenant_action_pages_pass_axe_and_fit(page, sign_in, tenant, world, axe_js, size):
    make_user("alice", tenants=(tenant,))
    page.set_viewport_size(SIZES[size])
    sign_in("alice")
    failures: dict[str, list[str]] = {}
    endpoint, failed, event = world["endpoint"], world["failed"], world["scheduled"]
    paths = [
        f"/endpoints/{endpoint.pk}/",
        f"/endpoints/{endpoint.pk}/toggle/",
        f"/events/{failed.event_id}/",
        f"/attempts/{failed.attempts.get().pk}/",
        f"/deliveries/{failed.pk}/",
        "/events/scheduled/",
        f"/events/{event.pk}/cancel/",
        "/settings/api-keys/",
        f"/search/?q={failed.event_id[:10]}",
        "/search/?q=nothing-starts-so",
    ]
    for path in paths:
        page.goto(path)
        _check_here(page, axe_js, failures, path)

    # A key made in the page: shown once, with its copy button, then only its prefix.
    page.goto("/settings/api-keys/")
    page.fill("#key-name", "billing service")
    page.click("#make-key")
    key = page.locator("#new-key").inner_text()
    assert key.startswith("whk_")
    _check_here(page, axe_js, failures, "api key made")
    page.goto("/settings/api-keys/")
    expect(page.locator("#api-keys")).to_contain_text(ApiKey.objects.get().prefix)
    assert key not in page.content()
    page.click("#api-keys button:has-text('Revoke')")
    expect(page.locator("#api-keys")).to_contain_text("revoked")

    # A scheduled event cancelled after the confirmation.
    page.goto("/events/scheduled/")
    page.click(f"li[data-event='{event.pk}'] >> text=Cancel")
    page.click("#confirm")
    expect(page.locator(".messages")).to_contain_text("cancelled")
    expect(page.locator(f"li[data-event='{event.pk}'] .badge")).to_have_text("cancelled")

    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


@pytest.mark.parametrize("size", list(SIZES))
def test_support_action_pages_pass_axe_and_fit(page, sign_in, tenant, world, axe_js, size):
    make_user("sam", is_staff=True)
    page.set_viewport_size(SIZES[size])
    sign_in("sam")
    failures: dict[str, list[str]] = {}
    paths = [
        "/support/stuck/",
        "/support/deliveries/",
        f"/support/deliveries/{world['head'].pk}/skip/",
        f"/support/endpoints/{world['endpoint'].pk}/toggle/",
        f"/support/tenants/{tenant.slug}/members/",
    ]
    for path in paths:
        page.goto(path)
        _check_here(page, axe_js, failures, path)

    # Replay selected asks first, listing what was ticked.
    page.goto("/support/deliveries/?waiting=stuck")
    page.check(f"input[name=delivery_ids][value='{world['failed'].pk}']")
    page.click("#replay-selected")
    expect(page.locator("#replay-count")).to_have_text("1")
    _check_here(page, axe_js, failures, "replay selected: confirm")

    # A member added: the set-password link shown once.
    page.goto(f"/support/tenants/{tenant.slug}/members/")
    page.fill("#id_username", "nina")
    page.click("#add-member")
    expect(page.locator("#set-password-link")).to_contain_text("/members/set-password/")
    _check_here(page, axe_js, failures, "member added")

    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_a_new_member_sets_a_password_on_a_phone(page, sign_in, tenant, world, axe_js, browser):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_member", tenant.slug, "nina", stdout=out)
    link = out.getvalue().strip().splitlines()[-1]
    page.set_viewport_size(SIZES["phone"])

    page.goto(re.sub(r"^http://127\.0\.0\.1:\d+", "", link))
    assert _violations(page, axe_js) == []
    assert _overflow(page) <= 0
    page.fill("#id_new_password1", "a-long-and-fresh-passphrase-7")
    page.fill("#id_new_password2", "a-long-and-fresh-passphrase-7")
    page.click("text=Set password and sign in")

    expect(page).to_have_url(re.compile(r"/endpoints/$"))
    expect(page.locator("main")).to_contain_text(world["endpoint"].url[:30])


def test_the_test_payload_follows_the_type_until_edited(page, sign_in, tenant, world):
    from endpoints.services import event_type_create

    event_type_create(name="order.created", example={"order": 1})
    make_user("alice", tenants=(tenant,))
    sign_in("alice")
    page.goto(f"/endpoints/{world['endpoint'].pk}/")

    page.select_option("#test-type", "order.created")
    expect(page.locator("#test-payload")).to_have_value('{\n  "order": 1\n}')
    page.fill("#test-payload", '{"order": 2}')
    page.select_option("#test-type", "invoice.paid")
    expect(page.locator("#test-payload")).to_have_value('{"order": 2}')
