"""Skip, Disable and Replay selected ask first: their buttons lead to a page that says what will
happen, and only its POST (with the CSRF token) acts."""

import pytest
from django.urls import reverse

from deliveries.models import Delivery
from endpoints.models import Endpoint
from endpoints.services import endpoint_create

from .conftest import make_delivery

pytestmark = pytest.mark.django_db


def test_disable_asks_first(client_for, member, endpoint):
    client = client_for(member)
    url = reverse("endpoint-toggle", args=[endpoint.pk])
    page = client.get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()
    assert f'href="{url}" id="disable"' in page

    confirm = client.get(url)

    assert confirm.status_code == 200
    assert "Disable this endpoint?" in confirm.content.decode()
    assert f'action="{url}"' in confirm.content.decode()
    assert Endpoint.objects.get(pk=endpoint.pk).enabled
    client.post(url)
    assert not Endpoint.objects.get(pk=endpoint.pk).enabled


def test_the_confirmation_of_another_tenants_endpoint_is_not_found(
    client_for, member, other_endpoint
):
    response = client_for(member).get(reverse("endpoint-toggle", args=[other_endpoint.pk]))
    assert response.status_code == 404


def test_the_confirmed_disable_needs_the_csrf_token(client_for, member, endpoint):
    response = client_for(member, csrf=True).post(reverse("endpoint-toggle", args=[endpoint.pk]))
    assert response.status_code == 403
    assert Endpoint.objects.get(pk=endpoint.pk).enabled


def test_support_disable_asks_first(client_for, staff, endpoint, tenant):
    client = client_for(staff)
    url = reverse("support-endpoint-toggle", args=[endpoint.pk])
    page = client.get(reverse("support-tenant", args=[tenant.slug])).content.decode()
    assert f'href="{url}"' in page

    assert "Disable this endpoint?" in client.get(url).content.decode()
    assert Endpoint.objects.get(pk=endpoint.pk).enabled


def test_skip_asks_first(client_for, staff, tenant, invoice_paid):
    ordered, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/ordered", ordered=True)
    head = make_delivery(ordered, invoice_paid, status=Delivery.Status.PENDING)
    client = client_for(staff)
    url = reverse("support-delivery-skip", args=[head.pk])
    page = client.get(reverse("support-delivery-detail", args=[head.pk])).content.decode()
    assert f'href="{url}" id="skip"' in page

    confirm = client.get(url)

    assert f"Skip delivery {head.pk}?" in confirm.content.decode()
    assert Delivery.objects.get(pk=head.pk).status == "pending"
    client.post(url)
    assert Delivery.objects.get(pk=head.pk).status == "cancelled"


def test_replay_selected_asks_first(client_for, staff, failed_delivery):
    response = client_for(staff).post(
        reverse("support-bulk-replay"),
        {"scope": "selected", "delivery_ids": [str(failed_delivery.pk)]},
    )

    html = response.content.decode()
    assert 'id="replay-count">1<' in html
    assert 'name="confirmed" value="1"' in html
    assert f'name="delivery_ids" value="{failed_delivery.pk}"' in html
