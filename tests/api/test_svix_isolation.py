"""Tenant isolation on the Svix-compatible routes: a tenant key gets 404 for anything of another
tenant, whether the path names the other application or its own with another's object."""

import pytest

from deliveries.models import Attempt
from webhooks_platform.svix_api.base import int_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def b_objects(endpoint_b, delivered):  # type: ignore[no-untyped-def]
    delivery = delivered(endpoint_b)
    attempt = Attempt.objects.create(
        delivery=delivery,
        endpoint=endpoint_b,
        number=1,
        trigger="scheduled",
        started_at=delivery.created_at,
        request_url=endpoint_b.url,
        response_status=200,
    )
    return {
        "app": endpoint_b.tenant.public_id,
        "endpoint": endpoint_b.pk,
        "msg": delivery.event_id,
        "attempt": int_id("atmpt_", attempt.pk),
    }


ROUTES = [
    ("get", "{app}"),
    ("put", "{app}"),
    ("patch", "{app}"),
    ("get", "{app}/endpoint"),
    ("post", "{app}/endpoint"),
    ("get", "{app}/endpoint/{endpoint}"),
    ("put", "{app}/endpoint/{endpoint}"),
    ("patch", "{app}/endpoint/{endpoint}"),
    ("delete", "{app}/endpoint/{endpoint}"),
    ("get", "{app}/endpoint/{endpoint}/secret"),
    ("post", "{app}/endpoint/{endpoint}/secret/rotate"),
    ("get", "{app}/endpoint/{endpoint}/headers"),
    ("put", "{app}/endpoint/{endpoint}/headers"),
    ("get", "{app}/endpoint/{endpoint}/stats"),
    ("post", "{app}/endpoint/{endpoint}/recover"),
    ("post", "{app}/endpoint/{endpoint}/send-example"),
    ("get", "{app}/endpoint/{endpoint}/msg"),
    ("get", "{app}/msg"),
    ("post", "{app}/msg"),
    ("get", "{app}/msg/{msg}"),
    ("delete", "{app}/msg/{msg}/content"),
    ("get", "{app}/msg/{msg}/endpoint"),
    ("post", "{app}/msg/{msg}/endpoint/{endpoint}/resend"),
    ("get", "{app}/msg/{msg}/attempt/{attempt}"),
    ("delete", "{app}/msg/{msg}/attempt/{attempt}/content"),
    ("get", "{app}/attempt/endpoint/{endpoint}"),
    ("get", "{app}/attempt/msg/{msg}"),
]

BODIES = {
    "put": {"name": "x", "url": "http://127.0.0.1:9/x", "headers": {}},
    "patch": {},
    "post": {"eventType": "invoice.paid", "payload": {}, "url": "http://127.0.0.1:9/x"},
}


def _call(client, method, path):  # type: ignore[no-untyped-def]
    return getattr(client, method)(path, BODIES.get(method, {}), format="json")


@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_tenant_a_key_on_b_application_is_404(api_a, b_objects, method, route):
    response = _call(api_a, method, "/api/v1/app/" + route.format(**b_objects))

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Entity not found"}


@pytest.mark.parametrize(("method", "route"), [r for r in ROUTES if "{" in r[1][5:]])
def test_tenant_a_key_on_b_object_under_own_application_is_404(
    api_a, tenant, b_objects, method, route
):
    own = {**b_objects, "app": tenant.public_id}
    response = _call(api_a, method, "/api/v1/app/" + route.format(**own))

    assert response.status_code == 404


def test_a_tenant_key_may_not_delete_an_application_even_its_own(api_a, tenant, b_objects):
    for app in (tenant.public_id, b_objects["app"]):
        response = api_a.delete(f"/api/v1/app/{app}")
        assert response.status_code == 403
        assert response.json()["code"] == "insufficient access"
