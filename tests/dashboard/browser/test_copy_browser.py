"""Copy buttons (portal issue 30, item 5): the attempt's body copies as the exact bytes signed and
sent, and a verification snippet copies whole, from a panel as wide as the page."""

from __future__ import annotations

import pytest

from deliveries.models import Attempt

from ..conftest import make_delivery, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def _clipboard(page) -> str:  # type: ignore[no-untyped-def]
    return page.evaluate("navigator.clipboard.readText()")


def test_the_attempt_body_copies_as_the_bytes_sent(page, sign_in, tenant, endpoint, invoice_paid):
    delivery = make_delivery(endpoint, invoice_paid)
    attempt = Attempt.objects.get(delivery=delivery)
    make_user("alice", tenants=(tenant,))
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in("alice")

    page.goto(f"/attempts/{attempt.pk}/")
    page.get_by_role("button", name="Copy body as sent").click()

    assert _clipboard(page) == delivery.event.body
    assert page.locator("#body-pretty summary").inner_text() == "Formatted for reading"


def test_a_verification_snippet_copies_whole_from_a_full_width_panel(
    page, sign_in, tenant, endpoint
):
    make_user("alice", tenants=(tenant,))
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in("alice")

    page.goto(f"/endpoints/{endpoint.pk}/")
    snippet = page.locator("#verify details[open] pre")
    page.locator("#verify details[open] .copy-bar button").click()

    assert _clipboard(page) == snippet.evaluate("el => el.textContent")
    assert "WEBHOOK_SECRET" in _clipboard(page)
    verify = page.locator("#verify").bounding_box()
    main = page.locator("main").bounding_box()
    assert verify is not None
    assert main is not None
    assert verify["width"] > main["width"] * 0.9
