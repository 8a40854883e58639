"""Portal links open the tenant portal without a password, for that tenant only."""

from __future__ import annotations

import pytest
from django.core import signing
from django.urls import reverse

from endpoints import portal
from endpoints.dashboard import PORTAL_SESSION_KEY
from endpoints.models import AuditEntry

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
    assert b"has expired or was revoked" in response.content
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
    assert portal.portal_token_verify(token).tenant == tenant
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "same-origin"  # and no other site sees even this path
    assert token not in page.content.decode()
    assert PORTAL_SESSION_KEY not in client.session


def test_a_link_of_the_earlier_form_is_gone_and_its_key_never_accepted(client, tenant):
    token = portal.portal_token(tenant=tenant)
    url = f"/portal/enter/{token}/"

    shown = client.get(url)
    entered = client.post(url, {"enter": "yes"})

    assert shown.status_code == 410
    assert entered.status_code == 410
    assert b"/portal/enter/#" in shown.content
    assert b"Ask the product that sent you here for a new link." in shown.content
    assert b"Acme" not in shown.content
    assert PORTAL_SESSION_KEY not in client.session
    assert portal.portal_token_verify(token).last_used_at is None


def test_revoking_a_link_ends_the_sessions_it_opened(client, tenant, endpoint):
    link = portal.portal_link(tenant)
    enter(client, link)
    assert client.get(reverse("endpoint-list")).status_code == 200

    stored = portal.portal_token_verify(link.partition("#")[2])
    assert portal.portal_link_revoke(stored)

    page = client.get(reverse("endpoint-list"))
    assert page.status_code == 403
    assert b"was revoked" in page.content
    assert PORTAL_SESSION_KEY not in client.session
    again = enter(client, link)  # and the link itself opens nothing any more
    assert again.status_code == 403
    assert PORTAL_SESSION_KEY not in client.session


def test_expiring_every_link_of_a_tenant_leaves_other_tenants_alone(client, tenant, other_tenant):
    from django.test import Client

    enter(client, portal.portal_link(tenant))
    other = Client()
    enter(other, portal.portal_link(other_tenant))

    assert portal.portal_links_expire_all(tenant=tenant) == 1

    assert client.get(reverse("endpoint-list")).status_code == 403
    assert other.get(reverse("endpoint-list")).status_code == 200


def test_a_session_from_before_stored_links_is_ended(client, tenant):
    """A session that holds a tenant but no link (made by an earlier version) cannot be
    revoked, so it does not carry on."""
    session = client.session
    session[PORTAL_SESSION_KEY] = tenant.pk
    session.save()

    assert client.get(reverse("endpoint-list")).status_code == 403
    assert PORTAL_SESSION_KEY not in client.session


def test_a_token_that_names_no_stored_link_is_refused(client, tenant):
    token = signing.dumps({"t": tenant.pk, "e": 600}, salt=portal.SALT, compress=True)

    response = client.post(reverse("portal-open"), {"token": token, "enter": "yes"})

    assert response.status_code == 403
    assert PORTAL_SESSION_KEY not in client.session


def test_a_read_only_link_shows_everything_and_changes_nothing(client, tenant, endpoint):
    entered = enter(client, portal.portal_link(tenant, read_only=True))
    assert b"read-only" in entered.content
    detail = client.get(reverse("endpoint-detail", args=[endpoint.pk]))
    assert detail.status_code == 200
    assert endpoint.url in detail.content.decode()

    for name in ("endpoint-toggle", "endpoint-delete", "endpoint-edit"):
        assert client.post(reverse(name, args=[endpoint.pk])).status_code == 403, name
    assert client.post(reverse("endpoint-create"), {"url": "https://x.example"}).status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.enabled
    assert endpoint.deleted_at is None
    assert not AuditEntry.objects.filter(action__startswith="endpoint.").exists()


def test_admins_make_list_and_revoke_links_on_the_settings_pages(client_for, member, tenant):
    client = client_for(member)
    made = client.post(
        reverse("portal-link-create"), {"expires_in": "3600", "read_only": "yes"}, follow=True
    ).content.decode()
    link = tenant.portal_links.get()
    assert link.read_only
    assert link.created_by == member
    assert f"{reverse('portal-open')}#" in made
    token = made.split(f"{reverse('portal-open')}#", 1)[1].split("<", 1)[0]
    assert portal.portal_token_verify(token) == link

    listed = client.get(reverse("portal-links")).content.decode()
    assert link.pk in listed
    assert token not in listed

    client.post(reverse("portal-link-revoke", args=[link.pk]))
    assert portal.portal_token_verify(token) is None
    assert list(AuditEntry.objects.values_list("action", flat=True).order_by("id")) == [
        "portal_link.create",
        "portal_link.revoke",
    ]


def test_viewers_and_portal_visitors_cannot_make_links(client, client_for, tenant):
    from endpoints.models import Membership

    from .conftest import make_user

    viewer_member = make_user("val")
    Membership.objects.create(user=viewer_member, tenant=tenant, role=Membership.Role.VIEWER)
    viewer = client_for(viewer_member)
    assert viewer.post(reverse("portal-link-create"), {"expires_in": "3600"}).status_code == 403

    enter(client, portal.portal_link(tenant))
    assert client.get(reverse("portal-links")).status_code == 404
    assert client.post(reverse("portal-link-create"), {"expires_in": "3600"}).status_code == 404
    assert tenant.portal_links.count() == 1


def test_another_tenants_link_cannot_be_revoked(client_for, member, other_tenant):
    token = portal.portal_token(tenant=other_tenant)
    link = portal.portal_token_verify(token)

    response = client_for(member).post(reverse("portal-link-revoke", args=[link.pk]))

    assert response.status_code == 404
    assert portal.portal_token_verify(token) == link
