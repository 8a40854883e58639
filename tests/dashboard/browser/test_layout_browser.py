"""Layouts hold (portal issue, item 4): at a phone's 390 px nothing scrolls sideways, and a
300-character URL neither widens a page nor cuts off the buttons beside it."""

from __future__ import annotations

import pytest

from deliveries.models import Attempt, Delivery

from ..conftest import make_delivery, make_user

pytestmark = pytest.mark.django_db(transaction=True)

LONG_URL = "http://127.0.0.1:9/" + "a-very-long-path-segment/" * 12 + "?q=" + "x" * 40


def _overflow(page) -> int:  # type: ignore[no-untyped-def]
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


@pytest.fixture
def long_endpoint(tenant, invoice_paid):  # type: ignore[no-untyped-def]
    from endpoints.services import endpoint_create

    endpoint, _ = endpoint_create(tenant=tenant, url=LONG_URL)
    delivery = make_delivery(endpoint, invoice_paid, status=Delivery.Status.FAILED)
    return endpoint, delivery


def test_portal_pages_fit_a_phone(page, sign_in, tenant, long_endpoint):
    endpoint, delivery = long_endpoint
    attempt = Attempt.objects.filter(delivery=delivery).first()
    make_user("alice", tenants=(tenant,))
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in("alice")

    paths = ["/endpoints/", f"/endpoints/{endpoint.pk}/", "/deliveries/", "/settings/"]
    paths += [f"/deliveries/{delivery.pk}/", f"/events/{delivery.event_id}/", "/search/?q=none"]
    if attempt is not None:
        paths.append(f"/attempts/{attempt.pk}/")
    for path in paths:
        page.goto(path)
        assert _overflow(page) <= 0, f"{path} scrolls sideways by {_overflow(page)} px"


def test_support_tables_keep_their_replay_buttons_with_a_long_url(page, sign_in, db, long_endpoint):
    make_user("sam", is_staff=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in("sam")

    for path in ("/support/", "/support/deliveries/?status=failed"):
        page.goto(path)
        assert _overflow(page) <= 0, f"{path} scrolls sideways by {_overflow(page)} px"
    button = page.locator("form button", has_text="Replay").first
    box = button.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 1280


def test_the_search_box_finds_an_event_and_its_deliveries_on_a_phone(
    page, sign_in, tenant, long_endpoint
):
    endpoint, delivery = long_endpoint
    make_user("alice", tenants=(tenant,))
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in("alice")

    page.goto("/deliveries/")
    page.get_by_label("Find an event, endpoint or delivery").fill(delivery.event_id)
    page.get_by_role("button", name="Find").click()

    page.wait_for_url(f"**/events/{delivery.event_id}/")
    rows = page.locator("#event-deliveries tbody tr")
    assert rows.count() == 1
    assert _overflow(page) <= 0
    rows.first.get_by_role("link", name=f"#{delivery.pk}").click()
    page.wait_for_url(f"**/deliveries/{delivery.pk}/")
