"""Destination endpoints over the native API: typed options, sealed secrets, clear errors."""

import json

import pytest
from django.core.management import call_command
from django.db import connection

from endpoints import destinations
from endpoints.models import Endpoint

pytestmark = pytest.mark.django_db

BASE = "/api/v1/tenants/acme/endpoints/"
RABBIT = {
    "url": "amqp://app@127.0.0.1:5672/",
    "password": "p4ss-w0rd-xyz",
    "exchange": "events",
    "routing_key": "webhooks.{event_type}",
}


def _stored_text(endpoint_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT destination FROM endpoints_endpoint WHERE id = %s", [endpoint_id])
        (value,) = cursor.fetchone()
    return value if isinstance(value, str) else json.dumps(value)


def test_a_destination_is_created_with_its_options_and_its_password_never_shown(
    api_a, invoice_paid
):
    created = api_a.post(BASE, {"kind": "rabbitmq", "destination": RABBIT}, format="json")

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["kind"] == "rabbitmq"
    assert body["url"] == "amqp://app@127.0.0.1:5672/#events"
    assert body["destination"] == {
        **RABBIT,
        "password": "[redacted]",
        "persistent": True,
        "mandatory": True,
    }
    assert "p4ss-w0rd-xyz" not in _stored_text(body["id"])
    assert "p4ss-w0rd-xyz" not in api_a.get(f"{BASE}{body['id']}/").content.decode()
    assert "p4ss-w0rd-xyz" not in api_a.get(BASE).content.decode()


def test_redacted_sent_back_keeps_the_password_and_a_new_one_replaces_it(api_a, invoice_paid):
    endpoint_id = api_a.post(
        BASE, {"kind": "rabbitmq", "destination": RABBIT}, format="json"
    ).json()["id"]

    kept = api_a.patch(
        f"{BASE}{endpoint_id}/",
        {"destination": {**RABBIT, "password": "[redacted]", "exchange": "other"}},
        format="json",
    )
    assert kept.status_code == 200, kept.content
    stored = Endpoint.objects.get(pk=endpoint_id)
    assert destinations.config_open("rabbitmq", stored.destination)["password"] == "p4ss-w0rd-xyz"
    assert stored.url.endswith("#other")

    api_a.patch(
        f"{BASE}{endpoint_id}/", {"destination": {**RABBIT, "password": "n3w"}}, format="json"
    )
    stored.refresh_from_db()
    assert destinations.config_open("rabbitmq", stored.destination)["password"] == "n3w"


def test_a_bad_option_is_a_400_naming_it(api_a, invoice_paid):
    response = api_a.post(
        BASE,
        {"kind": "rabbitmq", "destination": {**RABBIT, "routing_key": "{nope}"}},
        format="json",
    )

    assert response.status_code == 400
    assert "destination.routing_key" in response.json()["error"]["fields"]
    assert not Endpoint.objects.exists()


def test_a_destination_takes_no_url_and_a_push_endpoint_no_destination(api_a, invoice_paid):
    with_url = api_a.post(
        BASE,
        {"kind": "rabbitmq", "url": "http://127.0.0.1:9/", "destination": RABBIT},
        format="json",
    )
    push = api_a.post(BASE, {"url": "http://127.0.0.1:9/", "destination": RABBIT}, format="json")

    assert with_url.status_code == 400
    assert "url" in with_url.json()["error"]["fields"]
    assert push.status_code == 400
    assert "destination" in push.json()["error"]["fields"]


def test_a_kind_whose_library_is_missing_says_so(api_a, invoice_paid, monkeypatch):
    monkeypatch.setattr(destinations.kind_get("rabbitmq"), "module", "no_such_module_here")

    response = api_a.post(BASE, {"kind": "rabbitmq", "destination": RABBIT}, format="json")

    assert response.status_code == 400
    message = response.json()["error"]["fields"]["kind"][0]
    assert "needs the 'aio-pika' package, which is not installed" in message


def test_the_schema_documents_the_kinds_and_their_options(api_a):
    schema = api_a.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    text = json.dumps(schema)

    assert "rabbitmq" in text
    assert "routing_key" in text
    assert "maxlen" in text


def test_reencrypt_secrets_reseals_destination_passwords(api_a, invoice_paid, settings):
    from cryptography.fernet import Fernet

    old = Fernet.generate_key().decode()
    settings.WEBHOOKS_ENCRYPTION_KEYS = [old]
    endpoint_id = api_a.post(
        BASE, {"kind": "rabbitmq", "destination": RABBIT}, format="json"
    ).json()["id"]
    before = Endpoint.objects.get(pk=endpoint_id).destination["password"]
    settings.WEBHOOKS_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]

    call_command("reencrypt_secrets", verbosity=0)

    after = Endpoint.objects.get(pk=endpoint_id).destination
    assert after["password"] != before
    settings.WEBHOOKS_ENCRYPTION_KEYS = [settings.WEBHOOKS_ENCRYPTION_KEYS[0]]
    assert destinations.config_open("rabbitmq", after)["password"] == "p4ss-w0rd-xyz"
