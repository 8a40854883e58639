"""Tenant isolation: a tenant key gets 404 for anything of another tenant, by path or by id."""

import pytest
from django.utils import timezone

from deliveries.services.jobs import job_recover_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def b_objects(endpoint_b, delivered):
    """Globex's endpoint, event, delivery and job."""
    delivery = delivered(endpoint_b)
    job = job_recover_create(endpoint=endpoint_b, since=timezone.now())
    return {
        "endpoint": endpoint_b.pk,
        "event": delivery.event_id,
        "delivery": delivery.pk,
        "job": job.pk,
    }


OBJECT_ROUTES = [
    ("get", "endpoints/{endpoint}/"),
    ("patch", "endpoints/{endpoint}/"),
    ("delete", "endpoints/{endpoint}/"),
    ("get", "endpoints/{endpoint}/secret/"),
    ("post", "endpoints/{endpoint}/secret/rotate/"),
    ("post", "endpoints/{endpoint}/circuit-reset/"),
    ("post", "endpoints/{endpoint}/test/"),
    ("post", "endpoints/{endpoint}/recover/"),
    ("get", "endpoints/{endpoint}/stats/"),
    ("get", "events/{event}/"),
    ("get", "deliveries/{delivery}/"),
    ("get", "deliveries/{delivery}/attempts/"),
    ("post", "deliveries/{delivery}/replay/"),
    ("get", "jobs/{job}/"),
]


@pytest.mark.parametrize(("method", "route"), OBJECT_ROUTES)
def test_tenant_a_key_on_b_path_is_404(api_a, b_objects, method, route):
    path = "/api/v1/tenants/globex/" + route.format(**b_objects)

    response = getattr(api_a, method)(path, {}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("method", "route"), OBJECT_ROUTES)
def test_tenant_a_key_on_b_object_under_own_path_is_404(api_a, b_objects, method, route):
    path = "/api/v1/tenants/acme/" + route.format(**b_objects)

    response = getattr(api_a, method)(path, {}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tenants/globex/",
        "/api/v1/tenants/globex/endpoints/",
        "/api/v1/tenants/globex/events/",
        "/api/v1/tenants/globex/deliveries/",
    ],
)
def test_tenant_a_key_on_b_collections_is_404(api_a, b_objects, path):
    response = api_a.get(path)

    assert response.status_code == 404


def test_tenant_a_key_cannot_probe_b_by_numeric_id(api_a, other_tenant):
    response = api_a.get(f"/api/v1/tenants/{other_tenant.pk}/")

    assert response.status_code == 404


def test_delivery_list_filter_on_b_endpoint_shows_nothing(api_a, b_objects):
    response = api_a.get("/api/v1/tenants/acme/deliveries/", {"endpoint": b_objects["endpoint"]})

    assert response.status_code == 200
    assert response.json() == {"data": [], "next_cursor": None}


def test_a_revoked_key_gets_401_not_404_on_any_tenant(client_for, tenant):
    from endpoints.services import api_key_create, api_key_revoke

    api_key, key = api_key_create(tenant=tenant)
    api_key_revoke(api_key=api_key)

    response = client_for(key).get("/api/v1/tenants/globex/endpoints/")

    assert response.status_code == 401
