"""Portal links open the tenant portal without a password, for that tenant only."""

from __future__ import annotations

import pytest
from django.core import signing
from django.urls import reverse

from endpoints import portal
from endpoints.models import AuditEntry
from webhooks_platform.dashboard import PORTAL_SESSION_KEY

pytestmark = pytest.mark.django_db


def enter(client, link: str, *, confirm: bool = True):  # type: ignore[no-untyped-def]
    """What the link's page does: the key from the fragment, POSTed; then "Open the portal"."""
    path, _, token = link.partition("#")
    data = {"token": token} | ({"enter": "yes"} if confirm else {})
    return client.post(path, data, follow=True)


def test_a_valid_link_opens_the_portal_for_its_tenant(client, tenant, endpoint):
    response = enter(client, portal.portal_link(tenant, expires_in=600))

    assert response.redirect_chain == [(reverse("endpoint-list"), 302)]
    assert endpoint.url in response.content.decode()
    assert client.session[PORTAL_SESSION_KEY] == tenant.pk
    assert 590 <= client.session.get_expiry_age() <= 600
    assert "_auth_user_id" not in client.session


def test_a_link_signs_out_whoever_was_signed_in(client_for, other_member, tenant):
    client = client_for(other_member)

    enter(client, portal.portal_link(tenant))

    assert "_auth_user_id" not in client.session
    assert client.session[PORTAL_SESSION_KEY] == tenant.pk


def test_a_tampered_link_is_refused(client, tenant):
    token = portal.portal_token(tenant=tenant)

    response = client.post(reverse("portal-open"), {"token": token[:-2] + "xx", "enter": "yes"})

    assert response.status_code == 403
    assert PORTAL_SESSION_KEY not in client.session


def test_an_expired_link_is_refused(client, tenant, monkeypatch):
    import time

    # Sign the token two minutes in the past, so its 60-second lifetime is over.
    now = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now - 120)
    token = portal.portal_token(tenant=tenant, expires_in=60)
    monkeypatch.undo()

    response = client.post(reverse("portal-open"), {"token": token, "enter": "yes"})

    assert response.status_code == 403
    assert b"invalid or has expired" in response.content
    assert PORTAL_SESSION_KEY not in client.session


def test_portal_actions_are_audited_as_coming_through_a_link(client, tenant, endpoint):
    enter(client, portal.portal_link(tenant))

    client.post(reverse("endpoint-toggle", args=[endpoint.pk]))

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.details) == (
        "endpoint.disable",
        None,
        {"via": "portal link"},
    )


def test_signing_out_ends_a_portal_session(client, tenant):
    enter(client, portal.portal_link(tenant))

    client.post(reverse("logout"))

    assert client.get(reverse("endpoint-list")).status_code == 302


def test_opening_a_link_only_shows_whose_portal_it_is(client_for, member, other_tenant):
    """An embedded link (an <img>, a redirect) must not swap a signed-in user's session."""
    client = client_for(member)

    response = enter(client, portal.portal_link(other_tenant), confirm=False)

    assert response.status_code == 200
    assert b"Webhooks portal for Globex" in response.content
    assert PORTAL_SESSION_KEY not in client.session
    assert "_auth_user_id" in client.session


def test_entering_needs_the_csrf_token(tenant):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = enter(client, portal.portal_link(tenant))

    assert response.status_code == 403
    assert PORTAL_SESSION_KEY not in client.session


def test_signing_in_after_a_portal_session_drops_the_portal_tenant(
    client, member, tenant, other_tenant, endpoint, other_endpoint
):
    enter(client, portal.portal_link(other_tenant))
    client.force_login(member)

    page = client.get(reverse("endpoint-list")).content.decode()

    assert endpoint.url in page
    assert other_endpoint.url not in page
    assert PORTAL_SESSION_KEY not in client.session


def test_the_key_travels_in_the_fragment_never_the_path(client, tenant):
    link = portal.portal_link(tenant, base_url="https://hooks.example.com")
    path, _, token = link.partition("#")

    page = client.get(path.removeprefix("https://hooks.example.com"))

    assert path == "https://hooks.example.com" + reverse("portal-open")
    assert portal.portal_token_verify(token) == tenant
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "same-origin"  # and no other site sees even this path
    assert token not in page.content.decode()
    assert PORTAL_SESSION_KEY not in client.session


def test_a_link_of_the_earlier_form_still_opens_until_it_expires(client, tenant):
    token = portal.portal_token(tenant=tenant)
    url = reverse("portal-enter", args=[token])

    shown = client.get(url)
    entered = client.post(url, {"enter": "yes"}, follow=True)

    assert b"Webhooks portal for Acme" in shown.content
    assert entered.redirect_chain == [(reverse("endpoint-list"), 302)]
    assert client.session[PORTAL_SESSION_KEY] == tenant.pk
