"""Who may frame the portal, and how a tenant's look reaches its pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from endpoints import portal

pytestmark = pytest.mark.django_db


def enter(client, tenant):  # type: ignore[no-untyped-def]
    path, _, token = portal.portal_link(tenant).partition("#")
    return client.post(path, {"token": token, "enter": "yes"}, follow=True)


def directive(response, name: str) -> str:  # type: ignore[no-untyped-def]
    policy = response["Content-Security-Policy"]
    return next(p.strip() for p in policy.split(";") if p.strip().startswith(name + " "))


@pytest.fixture
def embedded(tenant):  # type: ignore[no-untyped-def]
    tenant.portal_embed_origins = ["https://app.example.com"]
    tenant.save()
    return tenant


def test_a_portal_session_may_be_framed_by_the_tenants_origins(client, embedded, endpoint):
    page = enter(client, embedded)

    assert page.status_code == 200
    assert directive(page, "frame-ancestors") == "frame-ancestors 'self' https://app.example.com"
    assert "X-Frame-Options" not in page


def test_a_members_pages_are_never_framed(client_for, member, embedded):
    page = client_for(member).get(reverse("endpoint-list"))

    assert directive(page, "frame-ancestors") == "frame-ancestors 'none'"
    assert page["X-Frame-Options"] == "DENY"


def test_a_tenant_without_origins_is_not_framed_even_through_a_link(client, tenant):
    page = enter(client, tenant)

    assert directive(page, "frame-ancestors") == "frame-ancestors 'none'"
    assert page["X-Frame-Options"] == "DENY"


def test_the_entry_page_lists_every_embedding_origin_and_the_next_only_the_tenants(
    client, embedded, other_tenant
):
    other_tenant.portal_embed_origins = ["https://globex.example"]
    other_tenant.save()

    opener = client.get(reverse("portal-open"))
    assert directive(opener, "frame-ancestors") == (
        "frame-ancestors 'self' https://app.example.com https://globex.example"
    )
    path, _, token = portal.portal_link(embedded).partition("#")
    confirm = client.post(path, {"token": token})
    assert directive(confirm, "frame-ancestors") == (
        "frame-ancestors 'self' https://app.example.com"
    )
    assert b"data-enter-when-framed" in confirm.content


def test_with_no_embedding_tenant_the_entry_page_is_not_framed(client, tenant):
    opener = client.get(reverse("portal-open"))

    assert directive(opener, "frame-ancestors") == "frame-ancestors 'none'"
    assert opener["X-Frame-Options"] == "DENY"


def test_the_tenants_look_is_on_its_pages(client, client_for, staff, tenant):
    tenant.portal_theme = "dark"
    tenant.portal_accent_color = "#1d4ed8"
    tenant.portal_logo_url = "https://cdn.example.com/acme.svg"
    tenant.save()

    page = enter(client, tenant)
    html = page.content.decode()

    assert '<html lang="en" data-theme="dark" style="--brand: #1d4ed8;' in html
    assert '<img class="tenant-logo" src="https://cdn.example.com/acme.svg" alt="">' in html
    assert directive(page, "img-src") == "img-src 'self' data: https://cdn.example.com"
    support = client_for(staff).get(reverse("support-home")).content.decode()
    assert 'data-theme="light"' in support  # the console keeps its own look
    assert "tenant-logo" not in support
