"""Rotating a secret over the Svix surface takes the kinds of key endpoint creation takes."""

from __future__ import annotations

import pytest

from endpoints import signing_secrets
from endpoints.services import endpoint_create, endpoint_secret_current

pytestmark = pytest.mark.django_db


def _rotate_url(endpoint_id: str) -> str:
    return f"/api/v1/app/acme/endpoint/{endpoint_id}/secret/rotate"


def test_an_ed25519_endpoint_rotates_to_a_given_whsk_key(platform, tenant, invoice_paid):
    endpoint = endpoint_create(
        tenant=tenant, url="http://127.0.0.1:9/hooks", signature_style="ed25519"
    )[0]
    key = signing_secrets.signing_key_generate()

    response = platform.post(_rotate_url(endpoint.pk), {"key": key}, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {"key": signing_secrets.public_key(key)}
    assert endpoint_secret_current(endpoint=endpoint) == signing_secrets.public_key(key)


def test_a_whsk_key_for_an_hmac_endpoint_is_a_svix_422_on_key(platform, tenant, invoice_paid):
    endpoint = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/hooks")[0]
    before = endpoint_secret_current(endpoint=endpoint)

    response = platform.post(
        _rotate_url(endpoint.pk), {"key": signing_secrets.signing_key_generate()}, format="json"
    )

    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "key"]
    assert detail["msg"] == "a signing secret starts with 'whsec_'"
    assert endpoint_secret_current(endpoint=endpoint) == before


def test_a_whsec_key_for_an_ed25519_endpoint_is_a_svix_422_on_key(platform, tenant, invoice_paid):
    endpoint = endpoint_create(
        tenant=tenant, url="http://127.0.0.1:9/hooks", signature_style="ed25519"
    )[0]

    response = platform.post(
        _rotate_url(endpoint.pk), {"key": signing_secrets.secret_generate()}, format="json"
    )

    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "key"]
    assert "whsk_" in detail["msg"]
