"""Pages that follow what happens: the fragments their script re-fetches, and a job's state."""

import pytest
from django.urls import reverse

from deliveries.models import Delivery, Job
from deliveries.services.jobs import job_state
from endpoints.models import Endpoint

from .conftest import make_delivery

pytestmark = pytest.mark.django_db


def test_a_moving_delivery_page_is_refreshed_by_its_fragment(
    client_for, member, endpoint, invoice_paid
):
    delivery = make_delivery(endpoint, invoice_paid, status=Delivery.Status.PENDING)
    client = client_for(member)
    url = reverse("delivery-detail", args=[delivery.pk])

    page = client.get(url).content.decode()
    fragment = client.get(url, {"fragment": "attempts"}).content.decode()

    assert 'data-refresh-url="?fragment=attempts"' in page
    assert "data-active" in fragment
    assert '<template data-sync="#delivery-state">' in fragment
    assert "Attempt 1" in fragment
    assert "<html" not in fragment


def test_a_finished_delivery_fragment_stops_the_polling(client_for, member, endpoint, invoice_paid):
    delivery = make_delivery(endpoint, invoice_paid, status=Delivery.Status.SUCCEEDED)
    fragment = client_for(member).get(
        reverse("delivery-detail", args=[delivery.pk]), {"fragment": "attempts"}
    )

    assert "data-active" not in fragment.content.decode()
    assert 'id="delivery-status">succeeded<' in fragment.content.decode()


def test_the_fragment_of_another_tenants_delivery_is_not_found(client_for, member, other_delivery):
    response = client_for(member).get(
        reverse("delivery-detail", args=[other_delivery.pk]), {"fragment": "attempts"}
    )
    assert response.status_code == 404


def test_support_gets_the_same_fragment(client_for, staff, endpoint, invoice_paid):
    delivery = make_delivery(endpoint, invoice_paid, status=Delivery.Status.PENDING)
    fragment = client_for(staff).get(
        reverse("support-delivery-detail", args=[delivery.pk]), {"fragment": "attempts"}
    )
    assert reverse("support-attempt-detail", args=[delivery.attempts.get().pk]) in (
        fragment.content.decode()
    )


def test_the_recent_deliveries_fragment_carries_the_endpoints_state(
    client_for, member, endpoint, invoice_paid
):
    make_delivery(endpoint, invoice_paid, status=Delivery.Status.PENDING)
    client = client_for(member)
    url = reverse("endpoint-delivery-log", args=[endpoint.pk])
    Endpoint.objects.filter(pk=endpoint.pk).update(circuit_state="open")
    assert "Circuit open" in client.get(url, {"fragment": "recent"}).content.decode()

    Endpoint.objects.filter(pk=endpoint.pk).update(circuit_state="closed")
    fragment = client.get(url, {"fragment": "recent"}).content.decode()

    assert '<template data-sync="#endpoint-state">' in fragment
    assert "Circuit open" not in fragment
    assert "Enabled" in fragment


def test_recovery_watches_the_endpoint_page(client_for, member, endpoint, failed_delivery):
    client = client_for(member)
    response = client.post(
        reverse("endpoint-recover", args=[endpoint.pk]), {"since": "2000-01-01T00:00"}
    )
    assert "watch=1" in response["Location"]


def test_a_job_with_replays_in_flight_is_sending_not_succeeded(
    client_for, staff, endpoint, invoice_paid
):
    delivery = make_delivery(endpoint, invoice_paid, status=Delivery.Status.PENDING)
    job = Job.objects.create(
        kind=Job.Kind.BULK_REPLAY,
        status=Job.Status.SUCCEEDED,
        total=1,
        done=1,
        params={"replayed_ids": [delivery.pk], "replayed": 1},
    )
    data = client_for(staff).get(reverse("support-job-status", args=[job.pk])).json()
    assert (data["status"], data["state"], data["outcomes"]["in_progress"]) == (
        "succeeded",
        "sending",
        1,
    )

    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.SUCCEEDED)
    data = client_for(staff).get(reverse("support-job-status", args=[job.pk])).json()
    assert (data["state"], data["outcomes"]["delivered"]) == ("succeeded", 1)


def test_job_state_of_a_running_or_failed_job_is_its_status():
    job = Job(status=Job.Status.RUNNING)
    assert job_state(job, {"in_progress": 3}) == "running"
    job.status = Job.Status.FAILED
    assert job_state(job, {"in_progress": 3}) == "failed"
