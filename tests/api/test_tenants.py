"""Tenants and portal links."""

import pytest
from django.urls import reverse

from endpoints.models import AuditEntry, Tenant
from endpoints.portal import portal_token_verify

from .support import assert_error

pytestmark = pytest.mark.django_db


def test_platform_creates_a_tenant(platform):
    response = platform.post("/api/v1/tenants/", {"slug": "initech", "name": "Initech"})

    assert response.status_code == 201
    tenant = Tenant.objects.get(slug="initech")
    assert response.json() == {
        "id": tenant.pk,
        "slug": "initech",
        "name": "Initech",
        "app_id": tenant.public_id,
        "message_format": "standard",
        "portal": {"embed_origins": [], "logo_url": "", "accent_color": "", "theme": "auto"},
        "created_at": tenant.created_at.isoformat().replace("+00:00", "Z"),
    }


def test_the_message_format_is_seen_and_changed_through_the_api(platform, tenant):
    response = platform.patch("/api/v1/tenants/acme/", {"message_format": "svix"}, format="json")

    assert response.status_code == 200
    assert response.json()["message_format"] == "svix"
    tenant.refresh_from_db()
    assert tenant.message_format == "svix"
    bad = platform.patch("/api/v1/tenants/acme/", {"message_format": "xml"}, format="json")
    assert_error(bad, 400, "validation_error")


def test_a_duplicate_slug_is_a_field_error(platform, tenant):
    response = platform.post("/api/v1/tenants/", {"slug": "acme"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"slug": ["A tenant with slug 'acme' already exists."]}


def test_platform_lists_tenants_newest_first(platform, tenant, other_tenant):
    response = platform.get("/api/v1/tenants/")

    assert response.status_code == 200
    assert [t["slug"] for t in response.json()["data"]] == ["globex", "acme"]


@pytest.mark.parametrize("ref", ["acme", "id"])
def test_a_tenant_is_found_by_slug_or_id(api_a, tenant, ref):
    key = tenant.pk if ref == "id" else tenant.slug

    response = api_a.get(f"/api/v1/tenants/{key}/")

    assert response.status_code == 200
    assert response.json()["slug"] == "acme"


def test_a_tenant_key_renames_its_tenant(api_a, tenant):
    response = api_a.patch("/api/v1/tenants/acme/", {"name": "Acme Corp"}, format="json")

    assert response.status_code == 200
    tenant.refresh_from_db()
    assert tenant.name == "Acme Corp"


def test_an_unknown_tenant_is_404(platform):
    assert_error(platform.get("/api/v1/tenants/nobody/"), 404, "not_found")


def test_platform_makes_a_portal_link(platform, tenant):
    response = platform.post(
        "/api/v1/tenants/acme/portal-links/", {"expires_in": 600}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["expires_in"] == 600
    assert body["url"].startswith("http://testserver/")
    path, _, token = body["url"].partition("#")
    assert path == "http://testserver" + reverse("portal-open")
    link = portal_token_verify(token)
    assert (link.tenant, link.read_only, body["id"]) == (tenant, False, link.pk)
    assert body["read_only"] is False
    assert body["revoked_at"] is None


def test_platform_lists_and_revokes_portal_links(platform, tenant, other_tenant):
    made = platform.post(
        "/api/v1/tenants/acme/portal-links/", {"read_only": True}, format="json"
    ).json()
    token = made["url"].partition("#")[2]
    listed = platform.get("/api/v1/tenants/acme/portal-links/").json()
    assert [(x["id"], x["read_only"], x["revoked_at"]) for x in listed] == [
        (made["id"], True, None)
    ]
    assert "url" not in listed[0]  # the key is shown once, at creation

    # Another tenant's path does not reach it.
    wrong = platform.delete(f"/api/v1/tenants/{other_tenant.slug}/portal-links/{made['id']}/")
    assert_error(wrong, 404, "not_found")
    assert portal_token_verify(token) is not None

    assert platform.delete(f"/api/v1/tenants/acme/portal-links/{made['id']}/").status_code == 204
    assert portal_token_verify(token) is None
    assert platform.get("/api/v1/tenants/acme/portal-links/").json()[0]["revoked_at"]
    assert AuditEntry.objects.filter(action="portal_link.revoke", target_id=made["id"]).exists()


def test_a_portal_link_lifetime_is_bounded(platform, tenant):
    response = platform.post(
        "/api/v1/tenants/acme/portal-links/", {"expires_in": 10}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["expires_in"]


def test_a_nul_byte_in_a_path_is_400(platform, tenant):
    # Refused by RejectNulMiddleware before any view or query sees it.
    assert platform.get("/api/v1/tenants/ac%00me/").status_code == 400


def test_internal_tenants_are_not_listed(platform, tenant):
    from endpoints.models import Tenant

    Tenant.objects.create(slug="_operations", name="Operational webhooks")

    listed = [t["slug"] for t in platform.get("/api/v1/tenants/").json()["data"]]

    assert listed == ["acme"]


def test_the_platform_sets_the_portal_look_and_a_tenant_key_may_not(platform, api_a, tenant):
    look = {
        "embed_origins": ["https://App.example.com/"],
        "accent_color": "#1D4ED8",
        "theme": "dark",
        "logo_url": "https://cdn.example.com/acme.svg",
    }
    response = platform.patch("/api/v1/tenants/acme/", {"portal": look}, format="json")

    assert response.status_code == 200
    assert response.json()["portal"] == {
        "embed_origins": ["https://app.example.com"],
        "accent_color": "#1d4ed8",
        "theme": "dark",
        "logo_url": "https://cdn.example.com/acme.svg",
    }
    partial = platform.patch("/api/v1/tenants/acme/", {"portal": {"theme": "auto"}}, format="json")
    assert partial.json()["portal"]["embed_origins"] == ["https://app.example.com"]
    assert AuditEntry.objects.filter(action="tenant.portal_look").count() == 2

    refused = api_a.patch(
        "/api/v1/tenants/acme/", {"portal": {"embed_origins": ["https://evil.example"]}}
    )
    assert_error(refused, 403, "permission_denied")
    tenant.refresh_from_db()
    assert tenant.portal_embed_origins == ["https://app.example.com"]


def test_a_bad_portal_look_is_a_clear_400_and_changes_nothing(platform, tenant):
    response = platform.patch(
        "/api/v1/tenants/acme/",
        {"portal": {"theme": "dark", "embed_origins": ["https://app.example.com/portal"]}},
        format="json",
    )

    error = assert_error(response, 400, "validation_error")
    assert "no path" in str(error)
    tenant.refresh_from_db()
    assert (tenant.portal_theme, tenant.portal_embed_origins) == ("auto", [])


def test_an_unknown_field_in_the_portal_object_is_refused(platform, tenant):
    response = platform.patch(
        "/api/v1/tenants/acme/", {"portal": {"theme": "dark", "colour": "#fff"}}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"portal": {"colour": ["Unknown field; see the API reference."]}}
    assert error["message"] == "portal.colour: Unknown field; see the API reference."
    tenant.refresh_from_db()
    assert tenant.portal_theme == "auto"
