"""A tenant-member login a person can create: support's Members page and `create_member`, a
one-time set-password link, and the member then signed in to that tenant only."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from endpoints.models import AuditEntry, Membership

from .conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-and-fresh-passphrase-7"


def _signs_in(username: str, password: str) -> bool:
    """The sign-in page takes this username and password."""
    response = Client().post(reverse("login"), {"username": username, "password": password})
    return response.status_code == 302


def _set_password(link: str, password: str = NEW_PASSWORD) -> Client:
    """What the new member does: open the link, type a password twice."""
    client = Client()
    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": password, "new_password2": password},
    )
    assert done.status_code == 302
    return client


def test_support_adds_a_member_who_sets_a_password_and_sees_their_tenant(
    client_for, staff, tenant, other_tenant, endpoint, other_endpoint
):
    page = client_for(staff).post(
        reverse("support-members", args=[tenant.slug]),
        {"username": "nina", "email": "nina@example.com", "role": "admin"},
    )

    link = re.search(r'id="set-password-link"[^>]*>([^<]+)<', page.content.decode())[1]
    nina = get_user_model().objects.get(username="nina")
    assert not nina.has_usable_password()
    assert Membership.objects.get(user=nina).tenant == tenant
    assert AuditEntry.objects.filter(action="member.add", tenant=tenant).count() == 1

    member = _set_password(link)
    endpoints_page = member.get(reverse("endpoint-list")).content.decode()
    assert endpoint.url in endpoints_page
    assert other_endpoint.url not in endpoints_page
    assert member.get(reverse("endpoint-detail", args=[other_endpoint.pk])).status_code == 404
    assert _signs_in("nina", NEW_PASSWORD)
    # The link worked once.
    assert not Client().get(link, follow=True).context["validlink"]


def test_an_existing_user_is_added_without_a_link(client_for, staff, tenant):
    make_user("olga")

    page = client_for(staff).post(
        reverse("support-members", args=[tenant.slug]), {"username": "olga", "role": "viewer"}
    )

    assert 'id="set-password-link"' not in page.content.decode()
    assert Membership.objects.get(user__username="olga").role == "viewer"
    assert _signs_in("olga", PASSWORD)


def test_a_bad_username_is_a_form_error(client_for, staff, tenant):
    page = client_for(staff).post(
        reverse("support-members", args=[tenant.slug]), {"username": "no spaces!", "role": "admin"}
    )
    assert page.status_code == 200
    assert page.context["form"].errors["username"]
    assert not get_user_model().objects.filter(username="no spaces!").exists()


def test_the_members_page_is_for_staff_and_needs_csrf(client_for, member, staff, tenant):
    url = reverse("support-members", args=[tenant.slug])
    assert client_for(member).get(url).status_code == 403
    assert client_for(member).post(url, {"username": "x", "role": "admin"}).status_code == 403
    refused = client_for(staff, csrf=True).post(url, {"username": "x", "role": "admin"})
    assert refused.status_code == 403
    assert not get_user_model().objects.filter(username="x").exists()


def test_create_member_prints_a_set_password_link(tenant):
    out = io.StringIO()
    call_command("create_member", tenant.slug, "pia", "--role", "viewer", stdout=out)

    link = out.getvalue().strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:")
    assert Membership.objects.get(user__username="pia").role == "viewer"
    path = link.split("127.0.0.1", 1)[1].split("/", 1)[1]
    _set_password("/" + path)
    assert _signs_in("pia", NEW_PASSWORD)


def test_create_member_takes_a_password_on_stdin(tenant, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(NEW_PASSWORD + "\n"))
    out = io.StringIO()

    call_command("create_member", tenant.slug, "quin", "--password-stdin", stdout=out)

    assert "Set-password link" not in out.getvalue()
    assert _signs_in("quin", NEW_PASSWORD)


def test_create_member_refuses_a_weak_password_and_an_unknown_tenant(tenant, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("123\n"))
    with pytest.raises(CommandError, match="too short"):
        call_command("create_member", tenant.slug, "rex", "--password-stdin")
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        call_command("create_member", "nope", "rex")
    assert not get_user_model().objects.filter(username="rex").exists()
