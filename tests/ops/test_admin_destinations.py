"""A destination in the admin: its options shown with secrets redacted, edited through the same
checks, the URL following the options."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from endpoints import destinations
from endpoints.models import Endpoint
from endpoints.services import endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    user = get_user_model().objects.create_superuser("support", "s@example.test", "pw-support-1")
    client = Client()
    client.force_login(user)
    return client


def _inlines_unchanged(client: Client, url: str) -> dict[str, str]:
    """The management form of every inline on the page (its transformation versions), as the
    browser posts it back untouched."""
    formsets = client.get(url).context["inline_admin_formsets"]
    data: dict[str, str] = {}
    for inline in formsets:
        form = inline.formset.management_form
        data.update({form.add_prefix(k): str(v) for k, v in form.initial.items()})
    return data


def test_the_password_is_never_shown_and_redacted_keeps_it(admin_client, tenant):
    endpoint, _ = endpoint_create(
        tenant=tenant,
        kind="rabbitmq",
        destination={"url": "amqp://app@127.0.0.1/", "password": "adm1n-secret", "exchange": "a"},
    )
    url = f"/admin/endpoints/endpoint/{endpoint.pk}/change/"

    page = admin_client.get(url).content.decode()
    assert "adm1n-secret" not in page
    assert "[redacted]" in page

    options = {"url": "amqp://app@127.0.0.1/", "password": "[redacted]", "exchange": "b"}
    response = admin_client.post(
        url,
        {
            "description": "",
            "headers": "{}",
            "signature_style": "standard",
            "destination": json.dumps(options),
            **_inlines_unchanged(admin_client, url),
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    endpoint.refresh_from_db()
    assert endpoint.url == "amqp://app@127.0.0.1:5672/#b"
    assert destinations.config_open("rabbitmq", endpoint.destination)["password"] == "adm1n-secret"


def test_a_bad_option_is_refused_with_its_name(admin_client, tenant):
    endpoint, _ = endpoint_create(
        tenant=tenant, kind="redis", destination={"url": "redis://127.0.0.1/0", "stream": "s"}
    )

    response = admin_client.post(
        f"/admin/endpoints/endpoint/{endpoint.pk}/change/",
        {
            "description": "",
            "headers": "{}",
            "destination": json.dumps({"url": "redis://127.0.0.1/0", "stream": "s", "x": 1}),
        },
    )

    assert response.status_code == 200
    assert "Unknown option(s) x" in str(response.context["adminform"].form.errors["destination"])
    assert Endpoint.objects.get(pk=endpoint.pk).destination == endpoint.destination
