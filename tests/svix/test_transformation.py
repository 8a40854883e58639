"""The Svix surface of transformations: the official SDK reads and sets them, and the simulate
route answers as Svix's OpenAPI describes."""

from __future__ import annotations

import json

import pytest
from svix.models import EndpointIn, EndpointTransformationIn

from endpoints.models import AuditEntry, Endpoint

pytestmark = pytest.mark.django_db(transaction=True)

CODE = "function handler(w) { w.payload = {text: w.eventType}; w.method = 'PUT'; return w; }"


@pytest.fixture
def app_and_endpoint(svix, tenant, invoice_paid):  # type: ignore[no-untyped-def]
    out = svix.endpoint.create(tenant.slug, EndpointIn(url="https://example.com/hook"))
    return tenant.slug, out.id


def test_the_sdk_sets_and_reads_a_transformation(svix, app_and_endpoint):
    app, endpoint_id = app_and_endpoint

    before = svix.endpoint.transformation.get(app, endpoint_id)
    svix.endpoint.transformation.patch(
        app, endpoint_id, EndpointTransformationIn(code=CODE, enabled=True)
    )
    svix.endpoint.transformation.patch(app, endpoint_id, EndpointTransformationIn(enabled=False))
    after = svix.endpoint.transformation.get(app, endpoint_id)

    assert (before.code, before.enabled) == (None, False)
    assert (after.code, after.enabled) == (CODE, False)  # disabled, code kept
    assert after.updated_at is not None
    endpoint = Endpoint.objects.get(pk=endpoint_id)
    assert endpoint.transformations.get().version == 1
    assert (
        AuditEntry.objects.filter(
            action="endpoint.transformation_update", target_id=endpoint_id
        ).count()
        == 2
    )


def test_code_that_does_not_compile_is_a_422(server_url, platform_token, app_and_endpoint):
    import requests

    app, endpoint_id = app_and_endpoint
    response = requests.patch(
        f"{server_url}/api/v1/app/{app}/endpoint/{endpoint_id}/transformation",
        json={"code": "function handler(w {", "enabled": True},
        headers={"Authorization": f"Bearer {platform_token}"},
        timeout=30,
    )

    assert response.status_code == 422
    assert "the code does not compile: SyntaxError" in json.dumps(response.json())


def test_simulate_answers_method_url_and_the_body(server_url, platform_token, app_and_endpoint):
    import requests

    app, endpoint_id = app_and_endpoint
    url = f"{server_url}/api/v1/app/{app}/endpoint/{endpoint_id}/transformation/simulate"
    auth = {"Authorization": f"Bearer {platform_token}"}

    ok = requests.post(
        url,
        json={"code": CODE, "eventType": "invoice.paid", "payload": {"a": 1}},
        headers=auth,
        timeout=30,
    )
    thrown = requests.post(
        url,
        json={
            "code": "function handler(w) { throw new Error('x') }",
            "eventType": "e",
            "payload": {},
        },
        headers=auth,
        timeout=30,
    )

    assert ok.status_code == 200
    assert ok.json() == {
        "method": "PUT",
        "url": "https://example.com/hook",
        "payload": '{"text":"invoice.paid"}',
    }
    assert thrown.status_code == 400
    assert thrown.json() == {
        "code": "transformation_error",
        "detail": "transformation threw Error: x",
    }
