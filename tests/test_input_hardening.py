"""Bad input reaching the dashboard gives a 4xx, never a 500."""

import pytest
from django.urls import reverse

from tests.dashboard.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, tenant):
    client.force_login(make_user("mallory", tenants=(tenant,)))
    return client


@pytest.mark.parametrize(
    "url",
    ["/deliveries/?cursor=WyJhYmMiXQ", "/deliveries/?cursor=%%%", "/deliveries/?status=%00"],
)
def test_bad_cursors_and_nul_bytes_are_4xx(member_client, url):
    assert 400 <= member_client.get(url).status_code < 500


def test_nul_in_a_path_is_400(member_client):
    assert member_client.get("/endpoints/ep_%00x/").status_code == 400


def test_odd_digits_in_job_parameter_are_ignored(member_client, tenant, invoice_paid):
    from endpoints.services import endpoint_create

    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    response = member_client.get(reverse("endpoint-detail", args=[endpoint.pk]) + "?job=²")
    assert response.status_code == 200
