"""Who may open what: sign-in for the portal, staff for the console, CSRF on every form."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from deliveries.models import Delivery
from endpoints.models import AuditEntry, Endpoint

pytestmark = pytest.mark.django_db

SUPPORT_PAGES = ["support-home", "support-deliveries", "support-jobs", "support-audit"]


@pytest.mark.parametrize("name", ["endpoint-list", "delivery-log", "event-catalogue"])
def test_portal_pages_send_anonymous_visitors_to_sign_in(client, name):
    url = reverse(name)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("name", SUPPORT_PAGES)
def test_support_pages_send_anonymous_visitors_to_sign_in(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", SUPPORT_PAGES)
def test_support_pages_refuse_members_who_are_not_staff(client_for, member, name):
    response = client_for(member).get(reverse(name))

    assert response.status_code == 403


def test_support_detail_and_actions_refuse_non_staff(client_for, member, other_delivery):
    client = client_for(member)

    detail = client.get(reverse("support-delivery-detail", args=[other_delivery.pk]))
    replay = client.post(reverse("support-delivery-replay", args=[other_delivery.pk]))
    bulk = client.post(reverse("support-bulk-replay"), {"status": "failed", "scope": "all"})

    assert (detail.status_code, replay.status_code, bulk.status_code) == (403, 403, 403)
    other_delivery.refresh_from_db()
    assert other_delivery.status == Delivery.Status.FAILED


@pytest.mark.parametrize("name", SUPPORT_PAGES)
def test_support_pages_open_for_staff(client_for, staff, name):
    assert client_for(staff).get(reverse(name)).status_code == 200


def _csrf_token(client: Client, url: str) -> str:
    html = client.get(url).content.decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_forms_without_a_csrf_token_are_refused(client_for, member, endpoint, failed_delivery):
    client = client_for(member, csrf=True)
    posts = [
        (reverse("endpoint-create"), {"url": "http://127.0.0.1:9/new"}),
        (reverse("endpoint-toggle", args=[endpoint.pk]), {}),
        (reverse("endpoint-secret", args=[endpoint.pk]), {}),
        (reverse("endpoint-secret-rotate", args=[endpoint.pk]), {"grace_period_seconds": "0"}),
        (reverse("endpoint-delete", args=[endpoint.pk]), {}),
        (reverse("delivery-replay", args=[failed_delivery.pk]), {}),
        (reverse("logout"), {}),
    ]

    statuses = [client.post(url, data).status_code for url, data in posts]

    assert statuses == [403] * len(posts)
    endpoint.refresh_from_db()
    assert endpoint.enabled is True
    assert endpoint.deleted_at is None
    assert Endpoint.objects.count() == 1


def test_a_form_with_its_csrf_token_is_accepted(client_for, member, endpoint):
    client = client_for(member, csrf=True)
    token = _csrf_token(client, reverse("endpoint-detail", args=[endpoint.pk]))

    response = client.post(
        reverse("endpoint-toggle", args=[endpoint.pk]), {"csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.enabled is False


def test_support_forms_need_a_csrf_token(client_for, staff, other_delivery):
    client = client_for(staff, csrf=True)

    replay = client.post(reverse("support-delivery-replay", args=[other_delivery.pk]))
    bulk = client.post(reverse("support-bulk-replay"), {"status": "failed", "scope": "all"})

    assert (replay.status_code, bulk.status_code) == (403, 403)
    assert not AuditEntry.objects.exists()


def test_logout_is_post_only(client_for, member):
    client = client_for(member)

    get = client.get(reverse("logout"))
    post = client.post(reverse("logout"))
    after = client.get(reverse("endpoint-list"))

    assert get.status_code == 405
    assert post.status_code == 302
    assert after.status_code == 302
