"""Members make, list and revoke API keys in the dashboard (stored hashed, shown once)."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from endpoints import portal
from endpoints.models import ApiKey, AuditEntry, Membership
from endpoints.services import api_key_authenticate, api_key_create, api_key_hash

from .conftest import make_user
from .test_portal_link import enter

pytestmark = pytest.mark.django_db


def _new_key(response) -> str:
    return re.search(r'<code id="new-key"[^>]*>(whk_[^<]+)</code>', response.content.decode())[1]


def test_a_key_is_shown_once_and_stored_hashed(client_for, member, tenant):
    client = client_for(member)

    response = client.post(reverse("api-key-create"), {"name": "billing", "read_only": "yes"})

    key = _new_key(response)
    stored = ApiKey.objects.get()
    assert (stored.tenant, stored.name, stored.read_only) == (tenant, "billing", True)
    assert stored.key_hash == api_key_hash(key)
    assert key not in str(ApiKey.objects.values_list().get())
    assert api_key_authenticate(key=key) == stored
    assert response["Cache-Control"].startswith("max-age=0")
    listing = client.get(reverse("api-keys")).content.decode()
    assert stored.prefix in listing
    assert key not in listing
    assert AuditEntry.objects.filter(action="api_key.create", tenant=tenant).count() == 1


def test_a_revoked_key_is_refused_by_the_api(client_for, member, tenant):
    api_key, key = api_key_create(tenant=tenant, name="old")
    client = client_for(member)

    response = client.post(reverse("api-key-revoke", args=[api_key.pk]))

    assert response.status_code == 302
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get(f"/api/v1/tenants/{tenant.slug}/endpoints/").status_code == 401
    assert "revoked" in client.get(reverse("api-keys")).content.decode()


def test_another_tenants_key_is_neither_listed_nor_revoked(client_for, member, other_tenant):
    theirs, _ = api_key_create(tenant=other_tenant, name="globex-secret-name")
    platform, _ = api_key_create(tenant=None, name="platform-key")
    client = client_for(member)

    page = client.get(reverse("api-keys")).content.decode()

    assert "globex-secret-name" not in page
    assert "platform-key" not in page
    assert client.post(reverse("api-key-revoke", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("api-key-revoke", args=[platform.pk])).status_code == 404
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()


def test_viewers_and_portal_visitors_cannot_make_keys(client, client_for, tenant):
    viewer_member = make_user("val")
    Membership.objects.create(user=viewer_member, tenant=tenant, role=Membership.Role.VIEWER)
    assert client_for(viewer_member).post(reverse("api-key-create")).status_code == 403

    enter(client, portal.portal_link(tenant))
    assert client.get(reverse("api-keys")).status_code == 404
    assert client.post(reverse("api-key-create")).status_code == 404
    assert not ApiKey.objects.exists()


def test_making_a_key_needs_the_csrf_token(client_for, member):
    response = client_for(member, csrf=True).post(reverse("api-key-create"), {"name": "x"})
    assert response.status_code == 403
    assert not ApiKey.objects.exists()
