"""Authentication and the platform/tenant split: 401 without a live key, 403 for tenant keys on
platform routes."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from endpoints.models import ApiKey, EventType
from endpoints.services import api_key_create, api_key_hash, api_key_revoke

from .support import assert_error

pytestmark = pytest.mark.django_db

TENANT_ROUTE = "/api/v1/tenants/acme/endpoints/"


def test_no_key_is_401_with_a_bearer_challenge(client_for, tenant):
    response = client_for(None).get(TENANT_ROUTE)

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_an_unknown_key_is_401(client_for, tenant):
    response = client_for("whk_000000000000_nope").get(TENANT_ROUTE)

    error = assert_error(response, 401, "authentication_failed")
    assert error["message"] == "The API key is not valid."


def test_a_revoked_key_is_401(client_for, tenant):
    api_key, key = api_key_create(tenant=tenant)
    api_key_revoke(api_key=api_key)

    response = client_for(key).get(TENANT_ROUTE)

    error = assert_error(response, 401, "authentication_failed")
    assert error["message"] == "The API key has been revoked."


def test_another_scheme_is_401(tenant, key_a):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key_a}")

    response = client.get(TENANT_ROUTE)

    error = assert_error(response, 401, "authentication_failed")
    assert "Bearer" in error["message"]


def test_a_tenant_key_reads_its_own_tenant(api_a):
    response = api_a.get(TENANT_ROUTE)

    assert response.status_code == 200
    assert response.json() == {"data": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/tenants/"),
        ("post", "/api/v1/tenants/"),
        ("post", "/api/v1/event-types/"),
        ("patch", "/api/v1/event-types/invoice.paid/"),
        ("delete", "/api/v1/event-types/invoice.paid/"),
        ("post", "/api/v1/tenants/acme/portal-links/"),
    ],
)
def test_a_tenant_key_on_a_platform_route_is_403(api_a, invoice_paid, method, path):
    response = getattr(api_a, method)(path, {}, format="json")

    assert_error(response, 403, "permission_denied")


def test_a_platform_key_acts_on_any_tenant(platform, tenant, other_tenant):
    assert platform.get("/api/v1/tenants/acme/endpoints/").status_code == 200
    assert platform.get("/api/v1/tenants/globex/endpoints/").status_code == 200


def test_use_marks_the_key_at_most_once_a_minute(client_for, tenant):
    api_key, key = api_key_create(tenant=tenant)
    recent = timezone.now() - timedelta(seconds=10)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=recent)

    client_for(key).get(TENANT_ROUTE)
    api_key.refresh_from_db()
    assert api_key.last_used_at == recent

    stale = timezone.now() - timedelta(minutes=5)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=stale)
    client_for(key).get(TENANT_ROUTE)
    api_key.refresh_from_db()
    assert api_key.last_used_at > stale


def test_keys_are_stored_as_a_hash_and_a_visible_prefix(tenant):
    api_key, key = api_key_create(tenant=tenant, name="ci")

    assert key.startswith(api_key.prefix + "_")
    assert api_key.prefix.startswith("whk_")
    assert api_key.key_hash == api_key_hash(key)
    assert key not in {api_key.prefix, api_key.key_hash, api_key.name}


def test_create_api_key_command_prints_a_working_tenant_key(capsys, client_for, tenant):
    call_command("create_api_key", "--tenant", "acme", "--name", "billing", "--json")

    out = json.loads(capsys.readouterr().out)
    assert out["tenant"] == "acme"
    assert out["name"] == "billing"
    assert ApiKey.objects.get(prefix=out["prefix"]).tenant == tenant
    assert client_for(out["key"]).get(TENANT_ROUTE).status_code == 200


def test_create_api_key_command_without_tenant_makes_a_platform_key(capsys):
    call_command("create_api_key")

    out = capsys.readouterr().out
    api_key = ApiKey.objects.get()
    assert api_key.is_platform
    assert out.startswith(f"Created platform API key {api_key.prefix} ")


def test_a_blank_authorization_header_is_401(tenant):
    from rest_framework.test import APIClient

    response = APIClient().get(TENANT_ROUTE, HTTP_AUTHORIZATION="   ")

    assert response.status_code == 401


def test_a_read_only_key_reads_and_cannot_write_on_either_api(client_for, tenant, invoice_paid):
    from endpoints.services import api_key_create

    _, key = api_key_create(tenant=tenant, name="exporter", read_only=True)
    client = client_for(key)

    assert client.get("/api/v1/tenants/acme/endpoints/").status_code == 200
    assert client.get("/api/v1/app/acme/endpoint").status_code == 200
    refused = client.post(
        "/api/v1/tenants/acme/endpoints/", {"url": "http://127.0.0.1:9/x"}, format="json"
    )
    assert refused.status_code == 403
    assert "read-only" in refused.json()["error"]["message"]
    svix = client.post(
        "/api/v1/app/acme/msg", {"eventType": "invoice.paid", "payload": {}}, format="json"
    )
    assert svix.status_code == 403
    assert svix.json()["code"] == "insufficient access"


def test_a_tenant_key_cannot_add_to_the_event_catalogue_through_svix(api_a, platform, invoice_paid):
    refused = api_a.post(
        "/api/v1/app/acme/msg", {"eventType": "junk.1", "payload": {}}, format="json"
    )
    known = api_a.post(
        "/api/v1/app/acme/msg", {"eventType": "invoice.paid", "payload": {}}, format="json"
    )
    learned = platform.post(
        "/api/v1/app/acme/msg", {"eventType": "order.shipped", "payload": {}}, format="json"
    )

    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "eventType"]
    assert known.status_code == 202
    assert learned.status_code == 202
    assert sorted(EventType.objects.values_list("name", flat=True)) == [
        "invoice.paid",
        "order.shipped",
    ]


def test_a_read_only_key_cannot_read_signing_secrets(client_for, tenant, endpoint_a, api_a):
    _, key = api_key_create(tenant=tenant, name="exporter", read_only=True)
    client = client_for(key)

    native = client.get(f"/api/v1/tenants/acme/endpoints/{endpoint_a.pk}/secret/")
    svix = client.get(f"/api/v1/app/acme/endpoint/{endpoint_a.pk}/secret")

    error = assert_error(native, 403, "permission_denied")
    assert "signing secrets" in error["message"]
    assert svix.status_code == 403
    assert svix.json()["code"] == "insufficient access"
    assert "whsec_" not in native.content.decode() + svix.content.decode()
    own = api_a.get(f"/api/v1/tenants/acme/endpoints/{endpoint_a.pk}/secret/")
    assert own.json()["secret"].startswith("whsec_")
