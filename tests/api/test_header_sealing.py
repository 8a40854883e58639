"""Credential headers: stored encrypted, never shown back, kept when "[redacted]" comes back."""

import json

import pytest
from django.db import connection

from endpoints.models import Endpoint
from endpoints.services import headers_open

from .support import assert_error

pytestmark = pytest.mark.django_db

BASE = "/api/v1/tenants/acme/endpoints/"


def _stored_text(endpoint_id: str) -> str:
    """The headers column as the database holds it (what a backup or a replica sees)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT headers FROM endpoints_endpoint WHERE id = %s", [endpoint_id])
        (value,) = cursor.fetchone()
    return value if isinstance(value, str) else json.dumps(value)


def test_credentials_are_stored_sealed_and_read_back_redacted(api_a, invoice_paid):
    created = api_a.post(
        BASE,
        {
            "url": "http://127.0.0.1:9/hooks",
            "headers": {"Authorization": "Bearer s3cret value", "X-Team": "billing"},
        },
        format="json",
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["headers"] == {"Authorization": "[redacted]", "X-Team": "billing"}
    assert "s3cret value" not in _stored_text(body["id"])
    detail = api_a.get(f"{BASE}{body['id']}/").json()
    assert detail["headers"] == {"Authorization": "[redacted]", "X-Team": "billing"}
    endpoint = Endpoint.objects.get(pk=body["id"])
    assert headers_open(endpoint.headers) == {
        "Authorization": "Bearer s3cret value",
        "X-Team": "billing",
    }


def test_redacted_sent_back_keeps_the_value_and_a_new_value_replaces_it(api_a, invoice_paid):
    endpoint_id = api_a.post(
        BASE,
        {"url": "http://127.0.0.1:9/hooks", "headers": {"X-Api-Key": "k1"}},
        format="json",
    ).json()["id"]

    kept = api_a.patch(
        f"{BASE}{endpoint_id}/",
        {"headers": {"X-Api-Key": "[redacted]", "X-Team": "ops"}},
        format="json",
    )
    assert kept.status_code == 200, kept.content
    assert headers_open(Endpoint.objects.get(pk=endpoint_id).headers) == {
        "X-Api-Key": "k1",
        "X-Team": "ops",
    }

    # A value with a space: sealed text (URL-safe base64) can never contain it by chance, as
    # it could a two-letter value.
    new_key = "key two"
    api_a.patch(f"{BASE}{endpoint_id}/", {"headers": {"X-Api-Key": new_key}}, format="json")
    assert headers_open(Endpoint.objects.get(pk=endpoint_id).headers) == {"X-Api-Key": new_key}
    assert new_key not in _stored_text(endpoint_id)


def test_redacted_for_a_header_with_nothing_stored_is_refused(api_a, endpoint_a):
    response = api_a.patch(
        f"{BASE}{endpoint_a.pk}/", {"headers": {"Authorization": "[redacted]"}}, format="json"
    )

    assert_error(response, 400, "validation_error")
    assert "no value is stored to keep" in str(response.json())
    endpoint_a.refresh_from_db()
    assert endpoint_a.headers == {}


@pytest.mark.parametrize("name", ["X-API_KEY", "X-Auth", "Private-Key", "X-Session", "X_Auth_Jwt"])
def test_more_credential_names_are_sealed_and_redacted(api_a, invoice_paid, name):
    created = api_a.post(
        BASE,
        {"url": "http://127.0.0.1:9/hooks", "headers": {name: "hush-hush", "X-Team": "billing"}},
        format="json",
    )

    assert created.status_code == 201, created.content
    assert created.json()["headers"] == {name: "[redacted]", "X-Team": "billing"}
    assert "hush-hush" not in _stored_text(created.json()["id"])


def test_a_non_ascii_header_value_is_refused(api_a, invoice_paid):
    response = api_a.post(
        BASE,
        {"url": "http://127.0.0.1:9/hooks", "headers": {"X-Team": "café"}},
        format="json",
    )

    error = assert_error(response, 400, "validation_error")
    assert "non-ASCII" in error["fields"]["headers"][0]
    assert not Endpoint.objects.exists()
