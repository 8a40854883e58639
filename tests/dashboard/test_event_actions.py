"""Resend an event to an endpoint from its page; list and cancel scheduled events."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deliveries import publish_event
from deliveries.models import Attempt, Delivery, Event, FeedItem
from deliveries.services.fanout import event_fan_out
from endpoints.models import AuditEntry, Endpoint
from endpoints.services import endpoint_create

pytestmark = pytest.mark.django_db


def test_resend_replays_the_events_delivery_to_that_endpoint(
    client_for, member, endpoint, failed_delivery
):
    client = client_for(member)
    page = client.get(reverse("event-detail", args=[failed_delivery.event_id])).content.decode()
    assert 'id="resend-endpoint"' in page

    response = client.post(
        reverse("event-resend", args=[failed_delivery.event_id]), {"endpoint": endpoint.pk}
    )

    assert response["Location"] == reverse("delivery-detail", args=[failed_delivery.pk])
    failed_delivery.refresh_from_db()
    assert (failed_delivery.status, failed_delivery.manual_requested) == ("pending", True)
    assert AuditEntry.objects.filter(action="event.resend").count() == 1


def test_resend_to_an_endpoint_the_event_never_went_to_makes_a_delivery(
    client_for, member, tenant, endpoint, failed_delivery
):
    later, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/added-later")

    client_for(member).post(
        reverse("event-resend", args=[failed_delivery.event_id]), {"endpoint": later.pk}
    )

    made = Delivery.objects.get(endpoint=later)
    assert (made.event_id, made.status, made.manual_requested, made.tenant_id) == (
        failed_delivery.event_id,
        "pending",
        True,
        tenant.pk,
    )


def test_resend_refuses_another_tenants_event_or_endpoint(
    client_for, member, endpoint, failed_delivery, other_endpoint, other_delivery
):
    client = client_for(member)

    theirs = client.post(
        reverse("event-resend", args=[other_delivery.event_id]), {"endpoint": endpoint.pk}
    )
    to_theirs = client.post(
        reverse("event-resend", args=[failed_delivery.event_id]), {"endpoint": other_endpoint.pk}
    )

    assert (theirs.status_code, to_theirs.status_code) == (404, 404)
    assert not Delivery.objects.filter(manual_requested=True).exists()


def test_resend_needs_the_csrf_token(client_for, member, endpoint, failed_delivery):
    response = client_for(member, csrf=True).post(
        reverse("event-resend", args=[failed_delivery.event_id]), {"endpoint": endpoint.pk}
    )
    assert response.status_code == 403


@pytest.fixture
def scheduled(tenant, endpoint):
    event = publish_event(
        tenant, "invoice.paid", {"n": 1}, deliver_at=timezone.now() + timedelta(hours=2)
    )
    event_fan_out(event_id=event.pk)
    return Event.objects.get(pk=event.pk)


def test_scheduled_events_are_listed_soonest_first(client_for, member, tenant, scheduled):
    sooner = publish_event(
        tenant, "invoice.paid", {"n": 2}, deliver_at=timezone.now() + timedelta(minutes=30)
    )
    publish_event(tenant, "invoice.paid", {"n": 3})  # not scheduled

    response = client_for(member).get(reverse("scheduled-events"))

    assert [e.pk for e in response.context["events"]] == [sooner.pk, scheduled.pk]
    assert response.context["events"][1].waiting == 1


def test_cancelling_a_scheduled_event_asks_first_then_cancels_its_deliveries(
    client_for, member, scheduled
):
    client = client_for(member)
    url = reverse("scheduled-event-cancel", args=[scheduled.pk])

    confirm = client.get(url)
    assert confirm.status_code == 200
    assert Delivery.objects.get(event=scheduled).status == "pending"

    client.post(url)

    delivery = Delivery.objects.get(event=scheduled)
    assert (delivery.status, delivery.cancel_reason) == ("cancelled", "scheduled event cancelled")
    listed = client.get(reverse("scheduled-events"))
    assert listed.context["events"][0].cancelled == 1
    assert ">cancelled<" in listed.content.decode()
    assert AuditEntry.objects.filter(action="event.schedule_cancel").count() == 1


def test_a_cancelled_scheduled_event_never_joins_a_feed(client_for, member, tenant, invoice_paid):
    poll, _ = endpoint_create(tenant=tenant, kind=Endpoint.Kind.POLL)
    event = publish_event(
        tenant, "invoice.paid", {"n": 1}, deliver_at=timezone.now() + timedelta(hours=1)
    )
    event_fan_out(event_id=event.pk)
    assert FeedItem.objects.filter(event=event).exists()

    client_for(member).post(reverse("scheduled-event-cancel", args=[event.pk]))

    assert not FeedItem.objects.filter(event=event).exists()


def test_an_event_already_out_cannot_be_cancelled(client_for, member, endpoint, failed_delivery):
    response = client_for(member).post(
        reverse("scheduled-event-cancel", args=[failed_delivery.event_id]), follow=True
    )
    assert "Only an event still scheduled ahead can be cancelled." in response.content.decode()
    assert Delivery.objects.get(pk=failed_delivery.pk).status == "failed"


def test_another_tenants_scheduled_event_is_not_found(client_for, other_member, scheduled):
    client = client_for(other_member)
    url = reverse("scheduled-event-cancel", args=[scheduled.pk])

    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert client.get(reverse("scheduled-events")).context["events"] == []
    assert Delivery.objects.get(event=scheduled).status == "pending"


def test_viewers_cannot_cancel_or_resend(client_for, tenant, scheduled, failed_delivery):
    from endpoints.models import Membership

    from .conftest import make_user

    viewer = make_user("val")
    Membership.objects.create(user=viewer, tenant=tenant, role=Membership.Role.VIEWER)
    client = client_for(viewer)

    assert client.post(reverse("scheduled-event-cancel", args=[scheduled.pk])).status_code == 403
    assert (
        client.post(
            reverse("event-resend", args=[failed_delivery.event_id]),
            {"endpoint": failed_delivery.endpoint_id},
        ).status_code
        == 403
    )
    assert not Attempt.objects.filter(trigger="manual").exists()
