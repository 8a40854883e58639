"""Test events a receiver can tell from real ones, and the ping when an endpoint is created."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from standardwebhooks import Webhook

from deliveries import publish_event
from deliveries.models import Event
from deliveries.services.engines import engine_new
from deliveries.services.fanout import event_fan_out
from deliveries.services.publishing import event_send_test
from endpoints.models import AuditEntry, Endpoint, Tenant
from endpoints.services import endpoint_create
from tests.dashboard.conftest import make_user

pytestmark = pytest.mark.django_db


def _headers(request) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {k.lower(): v for k, v in request.headers.items()}


def test_a_test_event_says_so_in_its_signed_body_and_a_header(tenant, invoice_paid, receiver):
    endpoint, secret = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    real = publish_event(tenant, "invoice.paid", {"n": 1})
    event_fan_out(event_id=real.pk)
    test = event_send_test(endpoint=endpoint, event_type="invoice.paid", payload={"n": 2})
    event_fan_out(event_id=test.pk)

    engine_new().run_until_idle()

    by_id = {_headers(r)["webhook-id"]: r for r in receiver.received()}
    test_request, real_request = by_id[test.pk], by_id[real.pk]
    assert Webhook(secret).verify(test_request.body, test_request.headers)["test"] is True
    assert _headers(test_request)["x-webhook-test"] == "true"
    assert "test" not in json.loads(real_request.body)
    assert "x-webhook-test" not in _headers(real_request)
    assert Event.objects.get(pk=test.pk).is_test
    assert not Event.objects.get(pk=real.pk).is_test


def test_on_the_svix_format_the_body_stays_the_payload_and_the_header_marks_it(
    tenant, invoice_paid, receiver
):
    Tenant.objects.filter(pk=tenant.pk).update(message_format=Tenant.MessageFormat.SVIX)
    tenant.refresh_from_db()
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    test = event_send_test(endpoint=endpoint, event_type="invoice.paid", payload={"n": 2})
    event_fan_out(event_id=test.pk)

    engine_new().run_until_idle()

    (request,) = receiver.received()
    assert json.loads(request.body) == {"n": 2}
    assert _headers(request)["x-webhook-test"] == "true"


def test_an_endpoint_may_not_set_the_test_header_itself(tenant):
    with pytest.raises(ValidationError, match="set by the platform"):
        endpoint_create(
            tenant=tenant, url="http://127.0.0.1:9/x", headers={"X-Webhook-Test": "false"}
        )


def _create(client, **extra):  # type: ignore[no-untyped-def]
    data = {"url": "http://127.0.0.1:9/new", "event_types": ["invoice.paid"], "enabled": "on"}
    return client.post(reverse("endpoint-create"), {**data, **extra}, follow=True)


def test_creating_an_endpoint_with_the_ping_sends_it_a_test_event(client, tenant, invoice_paid):
    user = make_user("alice", tenants=(tenant,))
    client.force_login(user)

    page = _create(client, ping="on")

    endpoint = Endpoint.objects.get(tenant=tenant)
    (ping,) = Event.objects.filter(only_endpoint=endpoint)
    assert ping.is_test
    assert ping.event_type.name == "invoice.paid"
    assert f"Test event {ping.pk} (invoice.paid)" in page.content.decode()
    entry = AuditEntry.objects.get(action="endpoint.test_send")
    assert (entry.actor, entry.target_id) == (user, endpoint.pk)


def test_without_the_ping_or_when_disabled_nothing_is_sent(client, tenant, invoice_paid):
    client.force_login(make_user("alice", tenants=(tenant,)))

    _create(client)
    disabled = _create(client, ping="on", enabled="", url="http://127.0.0.1:9/off")

    assert Endpoint.objects.filter(tenant=tenant).count() == 2
    assert not Event.objects.exists()
    assert "No test event was sent: it is disabled." in disabled.content.decode()
