"""Recover presets, redeliver from the attempt page, and a test event with an edited payload."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from deliveries.models import Attempt, Event, Job
from endpoints.models import Membership

from .conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("hours", [1, 6, 24])
def test_a_recover_preset_recovers_that_many_hours(client_for, member, endpoint, hours):
    client = client_for(member)
    page = client.get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()
    assert f'name="hours" value="{hours}" formnovalidate' in page

    before = timezone.now()
    client.post(reverse("endpoint-recover", args=[endpoint.pk]), {"hours": str(hours)})

    since = parse_datetime(Job.objects.get().params["since"])
    expected = before - timedelta(hours=hours)
    assert abs((since - expected).total_seconds()) < 60


def test_an_unknown_preset_or_no_time_recovers_nothing(client_for, member, endpoint):
    client = client_for(member)
    url = reverse("endpoint-recover", args=[endpoint.pk])

    bad = client.post(url, {"hours": "1000"}, follow=True)
    none = client.post(url, {}, follow=True)

    assert not Job.objects.exists()
    assert "Give the time to recover failed deliveries from." in none.content.decode()
    assert bad.status_code == 200


def test_redeliver_from_the_attempt_page(client_for, member, failed_delivery):
    attempt = Attempt.objects.get(delivery=failed_delivery)
    client = client_for(member)
    page = client.get(reverse("attempt-detail", args=[attempt.pk])).content.decode()
    replay = reverse("delivery-replay", args=[failed_delivery.pk])
    assert f'action="{replay}"' in page
    assert 'id="redeliver"' in page

    response = client.post(replay)

    assert response["Location"] == reverse("delivery-detail", args=[failed_delivery.pk])
    failed_delivery.refresh_from_db()
    assert (failed_delivery.status, failed_delivery.manual_requested) == ("pending", True)


def test_support_redelivers_from_its_attempt_page(client_for, staff, failed_delivery):
    attempt = Attempt.objects.get(delivery=failed_delivery)
    page = client_for(staff).get(reverse("support-attempt-detail", args=[attempt.pk]))
    assert reverse("support-delivery-replay", args=[failed_delivery.pk]) in page.content.decode()


def test_a_viewer_gets_no_redeliver_button(client_for, tenant, failed_delivery):
    viewer = make_user("val")
    Membership.objects.create(user=viewer, tenant=tenant, role=Membership.Role.VIEWER)
    attempt = Attempt.objects.get(delivery=failed_delivery)

    page = client_for(viewer).get(reverse("attempt-detail", args=[attempt.pk])).content.decode()

    assert 'id="redeliver"' not in page


def test_another_tenants_attempt_page_is_not_found(client_for, other_member, failed_delivery):
    attempt = Attempt.objects.get(delivery=failed_delivery)
    assert (
        client_for(other_member).get(reverse("attempt-detail", args=[attempt.pk])).status_code
        == 404
    )


def test_the_test_payload_starts_as_the_example_and_is_sent_as_edited(
    client_for, member, endpoint, invoice_paid
):
    client = client_for(member)
    page = client.get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()
    assert 'id="test-payload"' in page
    assert "data-examples=" in page

    client.post(
        reverse("endpoint-send-test", args=[endpoint.pk]),
        {"event_type": "invoice.paid", "payload": '{"invoice_id": "in_edited", "amount": 1}'},
    )

    event = Event.objects.get()
    assert json.loads(event.body)["data"] == {"invoice_id": "in_edited", "amount": 1}
    assert event.is_test


def test_an_empty_test_payload_sends_the_example(client_for, member, endpoint, invoice_paid):
    client_for(member).post(
        reverse("endpoint-send-test", args=[endpoint.pk]),
        {"event_type": "invoice.paid", "payload": "  "},
    )
    assert json.loads(Event.objects.get().body)["data"] == {"test": True}  # (no example set)


def test_a_test_payload_that_is_not_json_is_refused_with_a_reason(client_for, member, endpoint):
    response = client_for(member).post(
        reverse("endpoint-send-test", args=[endpoint.pk]),
        {"event_type": "invoice.paid", "payload": "{not json"},
        follow=True,
    )

    assert "The test payload is not valid JSON" in response.content.decode()
    assert not Event.objects.exists()
