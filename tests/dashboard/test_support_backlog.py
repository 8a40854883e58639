"""Support sees stuck work: during an outage the default view is not empty, each reason for
waiting has its view, and each endpoint its counts."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deliveries.models import Delivery
from endpoints.models import Endpoint
from endpoints.services import endpoint_create

from .conftest import make_delivery

pytestmark = pytest.mark.django_db


def _pending(endpoint, event_type, **fields):
    delivery = make_delivery(endpoint, event_type, status=Delivery.Status.PENDING)
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    return delivery


@pytest.fixture
def outage(tenant, other_tenant, invoice_paid):
    """One endpoint retrying, one behind an open circuit, one ordered with a held delivery, one
    scheduled event, and a delivery that succeeded."""
    later = timezone.now() + timedelta(minutes=30)
    retrying_ep, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/retrying")
    circuit_ep, _ = endpoint_create(tenant=other_tenant, url="http://127.0.0.1:9/circuit")
    Endpoint.objects.filter(pk=circuit_ep.pk).update(circuit_state="open")
    ordered_ep, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/ordered", ordered=True)
    return {
        "retrying": [_pending(retrying_ep, invoice_paid, next_attempt_at=later) for _ in range(2)],
        "circuit": [_pending(circuit_ep, invoice_paid, next_attempt_at=later)],
        "held": [
            make_delivery(
                ordered_ep, invoice_paid, status=Delivery.Status.HELD, response_status=None
            )
        ],
        "scheduled": [
            _pending(
                retrying_ep,
                invoice_paid,
                attempt_count=0,
                last_status_code=None,
                next_attempt_at=later,
            )
        ],
        "succeeded": [make_delivery(retrying_ep, invoice_paid, status=Delivery.Status.SUCCEEDED)],
        "endpoints": (retrying_ep, circuit_ep, ordered_ep),
    }


def _listed(response) -> set[int]:
    return {d.pk for d in response.context["items"]}


def test_the_default_view_during_an_outage_shows_what_waits(client_for, staff, outage):
    response = client_for(staff).get(reverse("support-deliveries"))

    expected = {d.pk for key in ("retrying", "circuit", "held") for d in outage[key]}
    assert _listed(response) == expected


@pytest.mark.parametrize("view", ["retrying", "circuit", "held", "scheduled"])
def test_each_reason_has_its_view(client_for, staff, outage, view):
    response = client_for(staff).get(reverse("support-deliveries"), {"waiting": view})

    assert _listed(response) == {d.pk for d in outage[view]}


def test_the_backlog_page_counts_per_endpoint(client_for, staff, outage):
    retrying_ep, circuit_ep, ordered_ep = outage["endpoints"]
    response = client_for(staff).get(reverse("support-backlog"))

    rows = {row["endpoint_id"]: row for row in response.context["endpoints"]}
    assert {k: rows[retrying_ep.pk][k] for k in ("retrying", "circuit", "scheduled")} == {
        "retrying": 2,
        "circuit": 0,
        "scheduled": 1,
    }
    assert rows[circuit_ep.pk]["circuit"] == 1
    assert rows[ordered_ep.pk]["held"] == 1
    totals = {key: count for key, _, count in response.context["views"]}
    assert totals == {"retrying": 2, "circuit": 1, "held": 1, "scheduled": 1}
    page = response.content.decode()
    assert f"?waiting=retrying&amp;endpoint={retrying_ep.pk}" in page
    assert ">2 retrying<" in page


def test_bulk_replay_of_a_waiting_view_keeps_the_view(client_for, staff, outage):
    from deliveries.models import Job

    client_for(staff).post(
        reverse("support-bulk-replay"), {"waiting": "circuit", "scope": "all", "confirmed": "1"}
    )

    assert Job.objects.get().params["filters"] == {"waiting": "circuit"}


def test_the_backlog_is_for_staff_only(client_for, member):
    response = client_for(member).get(reverse("support-backlog"))
    assert response.status_code == 403
