"""A member of tenant A who types the URL of tenant B's objects gets 404, and changes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deliveries.models import Attempt, Delivery, Event, Job
from deliveries.services.jobs import job_recover_create
from endpoints.models import AuditEntry, EndpointSecret

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_job(other_endpoint):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    return job_recover_create(endpoint=other_endpoint, since=timezone.now() - timedelta(hours=1))


def _urls_of_other_tenant(other_endpoint, other_delivery, other_job) -> list[str]:  # type: ignore[no-untyped-def]
    attempt = Attempt.objects.get(delivery=other_delivery)
    return [
        reverse("endpoint-detail", args=[other_endpoint.pk]),
        reverse("endpoint-edit", args=[other_endpoint.pk]),
        reverse("endpoint-delete", args=[other_endpoint.pk]),
        reverse("endpoint-delivery-log", args=[other_endpoint.pk]),
        reverse("endpoint-delivery-log", args=[other_endpoint.pk]) + "?fragment=recent",
        reverse("delivery-detail", args=[other_delivery.pk]),
        reverse("attempt-detail", args=[attempt.pk]),
        reverse("job-status", args=[other_job.pk]),
    ]


def test_pages_of_another_tenant_are_404(
    client_for, member, other_endpoint, other_delivery, other_job
):
    client = client_for(member)

    statuses = {
        url: client.get(url).status_code
        for url in _urls_of_other_tenant(other_endpoint, other_delivery, other_job)
    }

    assert set(statuses.values()) == {404}, statuses


def test_actions_on_another_tenants_objects_are_404_and_change_nothing(
    client_for, member, other_endpoint, other_delivery
):
    client = client_for(member)
    secrets_before = EndpointSecret.objects.filter(endpoint=other_endpoint).count()
    posts = {
        "endpoint-toggle": [other_endpoint.pk],
        "endpoint-circuit-reset": [other_endpoint.pk],
        "endpoint-delete": [other_endpoint.pk],
        "endpoint-secret": [other_endpoint.pk],
        "endpoint-secret-rotate": [other_endpoint.pk],
        "endpoint-send-test": [other_endpoint.pk],
        "endpoint-recover": [other_endpoint.pk],
        "endpoint-edit": [other_endpoint.pk],
        "delivery-replay": [other_delivery.pk],
    }
    data = {
        "grace_period_seconds": "0",
        "event_type": "invoice.paid",
        "since": "2020-01-01T00:00",
        "url": "http://127.0.0.1:9/stolen",
    }

    statuses = {
        name: client.post(reverse(name, args=args), data).status_code
        for name, args in posts.items()
    }

    assert set(statuses.values()) == {404}, statuses
    other_endpoint.refresh_from_db()
    other_delivery.refresh_from_db()
    assert other_endpoint.enabled is True
    assert other_endpoint.deleted_at is None
    assert other_endpoint.url == "http://127.0.0.1:9/globex"
    assert EndpointSecret.objects.filter(endpoint=other_endpoint).count() == secrets_before
    assert other_delivery.status == Delivery.Status.FAILED
    assert not Event.objects.filter(only_endpoint=other_endpoint).exists()
    assert not Job.objects.filter(endpoint=other_endpoint).exists()
    assert not AuditEntry.objects.exists()


def test_lists_show_only_the_viewers_tenant(
    client_for, member, endpoint, failed_delivery, other_endpoint, other_delivery
):
    client = client_for(member)

    endpoints_html = client.get(reverse("endpoint-list")).content.decode()
    log = client.get(reverse("delivery-log")).context["items"]
    by_other_type = client.get(reverse("delivery-log"), {"status": "failed"}).context["items"]

    assert endpoint.url in endpoints_html
    assert other_endpoint.url not in endpoints_html
    assert [d.pk for d in log] == [failed_delivery.pk]
    assert [d.pk for d in by_other_type] == [failed_delivery.pk]


def test_a_portal_session_is_confined_to_its_tenant(client, tenant, endpoint, other_endpoint):
    from endpoints.portal import portal_link

    path, _, token = portal_link(tenant).partition("#")
    client.post(path, {"token": token, "enter": "yes"})

    own = client.get(reverse("endpoint-detail", args=[endpoint.pk]))
    other = client.get(reverse("endpoint-detail", args=[other_endpoint.pk]))
    support = client.get(reverse("support-home"))

    assert own.status_code == 200
    assert other.status_code == 404
    assert support.status_code == 302
    assert support["Location"].startswith(reverse("login"))
