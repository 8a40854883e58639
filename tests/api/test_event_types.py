"""The event-type catalogue: read by every key, written by platform keys."""

import pytest

from endpoints.models import AuditEntry, EventType

from .support import assert_error

pytestmark = pytest.mark.django_db

BASE = "/api/v1/event-types/"


def test_platform_creates_an_event_type(platform):
    response = platform.post(
        BASE,
        {
            "name": "order.shipped",
            "description": "An order left the warehouse.",
            "schema": {"type": "object", "required": ["id"]},
            "example": {"id": "o_1"},
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "order.shipped"
    assert body["example"] == {"id": "o_1"}
    assert EventType.objects.filter(name="order.shipped").exists()


def test_an_example_that_breaks_the_schema_is_rejected(platform):
    response = platform.post(
        BASE,
        {"name": "order.shipped", "schema": {"type": "object"}, "example": [1]},
        format="json",
    )

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["example"]


def test_a_bad_name_is_rejected(platform):
    response = platform.post(BASE, {"name": "has space"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["name"]


def test_a_tenant_key_lists_the_catalogue_without_archived_types(api_a, invoice_paid, user_created):
    user_created.archived = True
    user_created.save()

    response = api_a.get(BASE)
    with_archived = api_a.get(BASE, {"include_archived": "true"})

    assert [t["name"] for t in response.json()["data"]] == ["invoice.paid"]
    assert [t["name"] for t in with_archived.json()["data"]] == ["user.created", "invoice.paid"]


def test_detail_and_patch(platform, invoice_paid):
    patched = platform.patch(
        f"{BASE}invoice.paid/", {"description": "Paid in full."}, format="json"
    )

    assert patched.status_code == 200
    assert platform.get(f"{BASE}invoice.paid/").json()["description"] == "Paid in full."


def test_delete_archives_and_keeps_the_row(platform, invoice_paid):
    response = platform.delete(f"{BASE}invoice.paid/")

    assert response.status_code == 204
    invoice_paid.refresh_from_db()
    assert invoice_paid.archived is True
    assert platform.get(f"{BASE}invoice.paid/").json()["archived"] is True
    assert AuditEntry.objects.get().action == "event_type.archive"


def test_an_unknown_name_is_404(platform):
    assert_error(platform.get(f"{BASE}nope.never/"), 404, "not_found")


def test_the_operational_types_are_not_in_a_tenants_catalogue(
    api_a, tenant, invoice_paid, settings
):
    from django.core.exceptions import ValidationError

    from deliveries import PublishError, publish_event
    from deliveries.services.endpoint_lifecycle import endpoint_disable
    from endpoints.services import endpoint_create

    settings.WEBHOOKS_OPERATIONAL_WEBHOOK_URLS = ["http://127.0.0.1:9/operators"]
    endpoint = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/a")[0]
    endpoint_disable(endpoint=endpoint, reason="disabled by user")  # an operational event
    assert EventType.objects.get(name="endpoint.disabled").internal

    native = [t["name"] for t in api_a.get(BASE, {"include_archived": "true"}).json()["data"]]
    svix = [t["name"] for t in api_a.get("/api/v1/event-type").json()["data"]]
    assert native == svix == ["invoice.paid"]
    assert api_a.get(f"{BASE}endpoint.disabled/").status_code == 404
    assert api_a.get("/api/v1/event-type/endpoint.disabled").status_code == 404
    with pytest.raises(ValidationError, match="Unknown event types: endpoint.disabled"):
        endpoint_create(
            tenant=tenant, url="http://127.0.0.1:9/b", event_types=["endpoint.disabled"]
        )
    with pytest.raises(PublishError, match="unknown event type 'endpoint.disabled'"):
        publish_event(tenant, "endpoint.disabled", {"sneaky": True})


def test_an_event_types_retry_schedule_is_set_shown_and_checked(platform, api_a, invoice_paid):
    created = platform.post(
        BASE, {"name": "order.shipped", "retry_schedule": [60, 3600]}, format="json"
    )
    patched = platform.patch(f"{BASE}invoice.paid/", {"retry_schedule": [30]}, format="json")
    bad = platform.patch(f"{BASE}invoice.paid/", {"retry_schedule": [0]}, format="json")
    by_tenant = api_a.patch(f"{BASE}invoice.paid/", {"retry_schedule": [1]}, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["retry_schedule"] == [60, 3600]
    assert patched.json()["retry_schedule"] == [30]
    assert "retry_schedule" in assert_error(bad, 400, "validation_error")["fields"]
    assert by_tenant.status_code == 403  # the catalogue is the platform's
    assert api_a.get(f"{BASE}invoice.paid/").json()["retry_schedule"] == [30]
    invoice_paid.refresh_from_db()
    assert invoice_paid.retry_schedule == [30]
