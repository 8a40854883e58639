"""Sealed credential headers: key rotation, and the migration that seals what was stored before."""

from __future__ import annotations

import importlib

import pytest
from cryptography.fernet import Fernet
from django.apps import apps

from endpoints.models import Endpoint
from endpoints.services import endpoint_create, headers_open, is_sealed, secrets_reencrypt

pytestmark = pytest.mark.django_db


def test_reencrypt_moves_sealed_headers_to_the_newest_key(tenant, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.WEBHOOKS_ENCRYPTION_KEYS = [old]
    endpoint, _ = endpoint_create(
        tenant=tenant, url="http://127.0.0.1:9/x", headers={"X-Api-Key": "k1", "X-Team": "a"}
    )
    sealed_before = Endpoint.objects.get(pk=endpoint.pk).headers["X-Api-Key"]

    settings.WEBHOOKS_ENCRYPTION_KEYS = [new, old]
    rewritten = secrets_reencrypt()
    settings.WEBHOOKS_ENCRYPTION_KEYS = [new]

    stored = Endpoint.objects.get(pk=endpoint.pk).headers
    assert rewritten == 2  # the signing secret and the header
    assert stored["X-Api-Key"] != sealed_before
    assert headers_open(stored) == {"X-Api-Key": "k1", "X-Team": "a"}


def test_the_migration_seals_credentials_stored_in_clear(tenant):
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    # As a row written before sealing existed.
    Endpoint.objects.filter(pk=endpoint.pk).update(
        headers={"Authorization": "Bearer old", "X-Team": "a"}
    )
    migration = importlib.import_module("endpoints.migrations.0006_seal_credential_headers")

    migration.seal(apps, None)
    sealed = Endpoint.objects.get(pk=endpoint.pk).headers
    migration.seal(apps, None)  # a second run changes nothing

    assert is_sealed(sealed["Authorization"])
    assert sealed["X-Team"] == "a"
    assert Endpoint.objects.get(pk=endpoint.pk).headers == sealed
    assert headers_open(sealed) == {"Authorization": "Bearer old", "X-Team": "a"}
    migration.unseal(apps, None)
    assert Endpoint.objects.get(pk=endpoint.pk).headers == {
        "Authorization": "Bearer old",
        "X-Team": "a",
    }
