"""The admin pages support staff use: every model listed, searchable, filterable; actions go
through the services; attempts cannot be edited; a key's hash never appears."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from deliveries.models import Attempt, Delivery, Job
from endpoints.models import AuditEntry, Endpoint
from endpoints.services import api_key_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    user = get_user_model().objects.create_superuser("support", "s@example.test", "pw-support-1")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def history(make_delivery, endpoint):
    failed = make_delivery(
        age=timedelta(hours=2), status=Delivery.Status.FAILED, attempts=2, response_body="nope"
    )
    ok = make_delivery(age=timedelta(hours=1))
    Job.objects.create(kind=Job.Kind.RECOVER, tenant=endpoint.tenant, endpoint=endpoint)
    return failed, ok


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("endpoints/tenant", "q=acme"),
        ("endpoints/membership", "q=acme"),
        ("endpoints/eventtype", "archived__exact=0"),
        ("endpoints/endpoint", "q=127.0.0.1&enabled__exact=1&tenant=acme&failing=no&deleted=no"),
        ("endpoints/endpointsecret", "q=127.0.0.1"),
        ("endpoints/apikey", "revoked=no&scope=tenant&tenant=acme"),
        ("endpoints/auditentry", "tenant=acme"),
        ("deliveries/event", "tenant=acme&q=acme"),
        ("deliveries/delivery", "status__exact=failed&tenant=acme&q=127.0.0.1"),
        ("deliveries/attempt", "outcome=http_error&tenant=acme&q=127.0.0.1"),
        ("deliveries/job", "kind__exact=recover&tenant=acme"),
    ],
)
def test_every_list_answers_with_search_and_filters(admin_client, history, path, query):
    api_key_create(tenant=history[0].tenant, name="ci")

    response = admin_client.get(f"/admin/{path}/?{query}")

    assert response.status_code == 200, response.content[:500]


def test_the_attempt_filter_and_search_find_the_failures(admin_client, history):
    failed, ok = history

    response = admin_client.get(
        f"/admin/deliveries/delivery/?status__exact=failed&q={failed.event_id}"
    )

    assert response.context["cl"].result_count == 1
    attempts = admin_client.get("/admin/deliveries/attempt/?outcome=http_error")
    assert {a.delivery_id for a in attempts.context["cl"].result_list} == {failed.pk}


def test_attempts_are_read_only(admin_client, history):
    attempt = Attempt.objects.filter(delivery=history[0]).first()

    page = admin_client.get(f"/admin/deliveries/attempt/{attempt.pk}/change/")
    posted = admin_client.post(f"/admin/deliveries/attempt/{attempt.pk}/change/", {"error": "x"})

    assert page.status_code == 200
    assert b'name="error"' not in page.content
    assert posted.status_code == 403
    assert admin_client.get("/admin/deliveries/attempt/add/").status_code == 403
    assert admin_client.get(f"/admin/deliveries/attempt/{attempt.pk}/delete/").status_code == 403


def test_an_api_key_page_never_shows_the_hash(admin_client, tenant):
    api_key, key = api_key_create(tenant=tenant, name="ci")

    page = admin_client.get(f"/admin/endpoints/apikey/{api_key.pk}/change/")
    listing = admin_client.get("/admin/endpoints/apikey/")

    assert page.status_code == listing.status_code == 200
    for response in (page, listing):
        assert api_key.key_hash.encode() not in response.content
        assert key.encode() not in response.content
    assert api_key.prefix.encode() in page.content


def test_revoking_keys_is_audited(admin_client, tenant):
    api_key, _ = api_key_create(tenant=tenant, name="leaked")

    admin_client.post(
        "/admin/endpoints/apikey/",
        {"action": "revoke_keys", "_selected_action": [api_key.pk], "index": 0},
    )

    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    entry = AuditEntry.objects.get(action="api_key.revoke")
    assert entry.target_id == str(api_key.pk)
    assert entry.actor.username == "support"


def test_disabling_from_the_admin_goes_through_the_service(admin_client, make_delivery, endpoint):
    waiting = make_delivery(age=timedelta(minutes=1), status=Delivery.Status.PENDING)

    admin_client.post(
        "/admin/endpoints/endpoint/",
        {"action": "disable_endpoints", "_selected_action": [endpoint.pk], "index": 0},
    )

    endpoint.refresh_from_db()
    waiting.refresh_from_db()
    assert endpoint.enabled is False
    assert endpoint.disabled_reason == "disabled by support"
    assert waiting.status == Delivery.Status.CANCELLED
    assert AuditEntry.objects.filter(action="endpoint.disable", target_id=endpoint.pk).exists()


def test_replaying_from_the_admin_reopens_the_delivery(admin_client, history):
    failed, _ = history

    admin_client.post(
        "/admin/deliveries/delivery/",
        {"action": "replay_deliveries", "_selected_action": [failed.pk], "index": 0},
    )

    failed.refresh_from_db()
    assert failed.status == Delivery.Status.PENDING
    assert failed.manual_requested is True
    assert failed.next_attempt_at <= timezone.now()
    assert AuditEntry.objects.filter(action="delivery.replay", target_id=str(failed.pk)).exists()


def test_an_endpoint_url_edit_is_checked_like_everywhere_else(admin_client, endpoint, dns):
    dns["internal.test"] = ["10.1.2.3"]

    response = admin_client.post(
        f"/admin/endpoints/endpoint/{endpoint.pk}/change/",
        {"url": "http://internal.test/hook", "description": "", "headers": "{}"},
    )

    assert response.status_code == 200  # the form again, with the error
    assert "private" in str(response.context["adminform"].form.errors["url"])
    assert Endpoint.objects.get(pk=endpoint.pk).url == "http://127.0.0.1:9/hook"


def test_support_switches_a_transformation_off_keeping_its_versions(admin_client, endpoint):
    from endpoints.services.transformations import transformation_update

    transformation_update(endpoint=endpoint, code="function handler(w) { return w; }", enabled=True)

    page = admin_client.get(f"/admin/endpoints/endpoint/{endpoint.pk}/change/").content.decode()
    admin_client.post(
        "/admin/endpoints/endpoint/",
        {"action": "disable_transformations", "_selected_action": [endpoint.pk], "index": 0},
    )

    endpoint.refresh_from_db()
    assert "function handler(w) { return w; }" in page
    assert endpoint.transformation_enabled is False
    assert endpoint.transformations.count() == 1
    entry = AuditEntry.objects.filter(action="endpoint.transformation_update").latest("id")
    assert entry.details == {"enabled": False, "via": "admin"}
    assert entry.actor.username == "support"
