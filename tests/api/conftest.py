from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from deliveries.models import Delivery, Event
from deliveries.services.fanout import event_fan_out
from deliveries.services.publishing import event_publish
from endpoints.models import Endpoint, EventType, Tenant
from endpoints.services import api_key_create, endpoint_create


@pytest.fixture
def platform_key(db) -> str:  # type: ignore[no-untyped-def]
    return api_key_create(name="product")[1]


@pytest.fixture
def key_a(tenant: Tenant) -> str:
    """A key of tenant ``acme``."""
    return api_key_create(tenant=tenant, name="acme key")[1]


@pytest.fixture
def key_b(other_tenant: Tenant) -> str:
    """A key of tenant ``globex``."""
    return api_key_create(tenant=other_tenant, name="globex key")[1]


@pytest.fixture
def client_for() -> Callable[[str | None], APIClient]:
    def make(key: str | None) -> APIClient:
        client = APIClient()
        if key is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client

    return make


@pytest.fixture
def platform(client_for, platform_key) -> APIClient:  # type: ignore[no-untyped-def]
    return client_for(platform_key)


@pytest.fixture
def api_a(client_for, key_a) -> APIClient:  # type: ignore[no-untyped-def]
    return client_for(key_a)


@pytest.fixture
def endpoint_a(tenant: Tenant, invoice_paid: EventType) -> Endpoint:
    return endpoint_create(tenant=tenant, url="http://127.0.0.1:9/hooks")[0]


@pytest.fixture
def endpoint_b(other_tenant: Tenant, invoice_paid: EventType) -> Endpoint:
    return endpoint_create(tenant=other_tenant, url="http://127.0.0.1:9/globex")[0]


@pytest.fixture
def delivered() -> Callable[[Endpoint], Delivery]:
    """An event published to ``endpoint``'s tenant and fanned out (not sent): its delivery."""

    def make(endpoint: Endpoint, payload: object = None) -> Delivery:
        event: Event = event_publish(
            tenant=endpoint.tenant, event_type="invoice.paid", payload=payload or {"n": 1}
        )
        event_fan_out(event_id=event.pk)
        return Delivery.objects.get(event=event, endpoint=endpoint)

    return make
