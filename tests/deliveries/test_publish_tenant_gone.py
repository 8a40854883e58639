"""A publish whose tenant is deleted between the lookup and the INSERT (Svix's app delete racing
a message create): a clear "not found" (404 from either API), never an IntegrityError (500)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from deliveries import TenantGone, publish_event
from deliveries.models import Event
from deliveries.services import endpoint_lifecycle
from endpoints.models import Tenant
from endpoints.services import api_key_create, endpoint_create, tenant_create

pytestmark = pytest.mark.django_db(transaction=True)


def _delete_elsewhere(tenant_pk: int) -> None:
    """Delete the tenant on another connection, as a concurrent app delete would."""
    errors: list[BaseException] = []

    def deleting() -> None:
        try:
            endpoint_lifecycle.tenant_delete(tenant=Tenant.objects.get(pk=tenant_pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=deleting)
    thread.start()
    thread.join(30)
    assert errors == []
    assert not thread.is_alive()


@contextmanager
def _tenant_deleted_before_the_event_insert(tenant_pk: int) -> Iterator[None]:
    """Just before this connection's first INSERT of an event, the tenant is deleted."""
    fired: list[bool] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any):
        if not fired and sql.lstrip().upper().startswith("INSERT") and Event._meta.db_table in sql:
            fired.append(True)
            _delete_elsewhere(tenant_pk)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield
    assert fired, "the publish never inserted an event"


@pytest.mark.parametrize("key", [None, "order-1"])
def test_publishing_for_a_tenant_deleted_meanwhile_says_so(key, invoice_paid):
    tenant = tenant_create(slug="gone", name="Gone")
    stale = Tenant.objects.get(pk=tenant.pk)
    endpoint_lifecycle.tenant_delete(tenant=tenant)

    with pytest.raises(TenantGone, match="gone"):
        publish_event(stale, "invoice.paid", {"n": 1}, idempotency_key=key)
    assert not Event.objects.exists()


def test_the_native_api_answers_404_when_the_tenant_goes_during_a_publish(invoice_paid):
    tenant = tenant_create(slug="acme", name="Acme")
    endpoint_create(tenant=tenant, url="http://127.0.0.1:9/a")
    _, token = api_key_create(name="platform")
    client = Client(raise_request_exception=False)

    with _tenant_deleted_before_the_event_insert(tenant.pk):
        response = client.post(
            "/api/v1/tenants/acme/events/",
            {"event_type": "invoice.paid", "payload": {"n": 1}},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    assert response.status_code == 404, response.content
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert not Event.objects.exists()


@pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="SQLite holds the message create's transaction lock, so the delete waits for it",
)
def test_the_svix_api_answers_404_when_the_app_goes_during_a_message_create(invoice_paid):
    tenant = tenant_create(slug="acme", name="Acme")
    _, token = api_key_create(name="platform")
    client = Client(raise_request_exception=False)

    with _tenant_deleted_before_the_event_insert(tenant.pk):
        response = client.post(
            f"/api/v1/app/{tenant.public_id}/msg/",
            {"eventType": "invoice.paid", "payload": {"n": 1}},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    assert response.status_code == 404, response.content
    assert response.json() == {"code": "not_found", "detail": "Entity not found"}
    assert not Event.objects.exists()
