"""Times say their zone and follow the person's choice; script-driven controls still work under
the Content-Security-Policy (no inline handlers)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from endpoints.services import endpoint_create

from ..conftest import make_delivery, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_times_switch_between_the_server_zone_and_the_browser_zone(
    page, sign_in, tenant, invoice_paid
):
    make_user("alice", tenants=(tenant,))
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    make_delivery(endpoint, invoice_paid)
    sign_in("alice")
    page.goto("/deliveries/")
    first = page.locator("time[data-when]").first
    expect(first).to_contain_text("UTC")

    page.click("#tz-toggle")

    expect(page.locator("#tz-toggle")).to_have_text("Times: local")
    expect(page.locator("html")).to_have_attribute("data-times", "local")
    expect(first).to_have_attribute("data-mode", "local")
    page.reload()  # the choice is remembered
    expect(page.locator("#tz-toggle")).to_have_text("Times: local")
    page.click("#tz-toggle")
    expect(page.locator("#tz-toggle")).to_have_text("Times: UTC")
    expect(first).to_contain_text("UTC")


def test_the_tenant_switcher_submits_on_change(page, sign_in, tenant, other_tenant):
    make_user("multi", tenants=(tenant, other_tenant))
    sign_in("multi")
    page.goto("/endpoints/")

    page.select_option("#tenant-switcher select", label=other_tenant.name)

    expect(page.locator("#tenant-switcher select option:checked")).to_have_text(other_tenant.name)
    expect(page).to_have_url(re.compile(r"/"))
