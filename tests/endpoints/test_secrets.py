import base64

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection

from endpoints import crypto
from endpoints.models import EndpointSecret
from endpoints.services import (
    endpoint_create,
    endpoint_secret_current,
    endpoint_secret_rotate,
    endpoint_secrets_live,
)

pytestmark = pytest.mark.django_db


def test_a_database_dump_does_not_reveal_the_secret(tenant):
    endpoint, secret = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM endpoints_endpointsecret")
        dump = repr(cursor.fetchall())
    assert secret not in dump
    assert secret.removeprefix("whsec_") not in dump
    assert endpoint_secret_current(endpoint=endpoint) == secret


def test_key_rotation_old_keys_decrypt_and_reencrypt_moves_to_the_newest(tenant, settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.WEBHOOKS_ENCRYPTION_KEYS = [old_key]
    endpoint, secret = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")

    settings.WEBHOOKS_ENCRYPTION_KEYS = [new_key, old_key]
    assert endpoint_secret_current(endpoint=endpoint) == secret
    call_command("reencrypt_secrets", stdout=open("/dev/null", "w"))  # noqa: SIM115

    settings.WEBHOOKS_ENCRYPTION_KEYS = [new_key]
    assert endpoint_secret_current(endpoint=endpoint) == secret


def test_a_secret_no_key_can_decrypt_is_a_clear_error(tenant, settings):
    settings.WEBHOOKS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    settings.WEBHOOKS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.SecretDecryptionError, match="WEBHOOKS_ENCRYPTION_KEYS"):
        endpoint_secret_current(endpoint=endpoint)


def test_rotation_keeps_the_old_secret_for_the_grace_period(tenant):
    endpoint, first = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    second = endpoint_secret_rotate(endpoint=endpoint, grace_period_seconds=600)

    assert endpoint_secrets_live(endpoint_ids=[endpoint.pk]) == {endpoint.pk: [second, first]}
    assert EndpointSecret.objects.filter(endpoint=endpoint, expires_at__isnull=True).count() == 1


@pytest.mark.parametrize("grace", [-1, 604801, "60", True])
def test_rotation_grace_period_is_bounded(tenant, grace):
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    with pytest.raises(ValidationError, match="0 to 604800 seconds"):
        endpoint_secret_rotate(endpoint=endpoint, grace_period_seconds=grace)


def test_a_chosen_secret_must_be_a_valid_whsec(tenant):
    with pytest.raises(ValidationError, match="starts with 'whsec_'"):
        endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x", secret="plain")
    short = "whsec_" + base64.b64encode(b"x" * 10).decode()
    with pytest.raises(ValidationError, match="24 to 64 bytes"):
        endpoint_create(tenant=tenant, url="http://127.0.0.1:9/y", secret=short)
