"""A person's "try again now" beats an open circuit: the page says what waits and until when,
Retry now closes the circuit and releases the backlog, and enabling an endpoint resets it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deliveries.models import Delivery
from deliveries.services.endpoint_lifecycle import endpoint_disable, endpoint_enable
from endpoints.models import AuditEntry, Endpoint

from .conftest import make_delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_circuit(endpoint, invoice_paid):
    probe = timezone.now() + timedelta(hours=9)
    Endpoint.objects.filter(pk=endpoint.pk).update(
        circuit_state="open",
        circuit_opened_at=timezone.now() - timedelta(hours=1),
        circuit_next_probe_at=probe,
        consecutive_failures=25,
    )
    waiting = make_delivery(endpoint, invoice_paid, status=Delivery.Status.PENDING)
    Delivery.objects.filter(pk=waiting.pk).update(next_attempt_at=probe)
    endpoint.refresh_from_db()
    return endpoint, waiting


def test_the_page_says_when_the_next_probe_goes_and_offers_retry_now(
    client_for, member, open_circuit
):
    endpoint, _ = open_circuit
    page = client_for(member).get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()

    assert "the next probe goes at" in page
    assert "Replays and test events go out at once" in page
    assert 'id="circuit-reset"' in page


def test_the_page_says_a_probe_is_out_and_how_many_failed(client_for, staff, member, open_circuit):
    # given a probe out now (its lease pushed the next probe time ahead), after two failed
    endpoint, waiting = open_circuit
    now = timezone.now()
    Endpoint.objects.filter(pk=endpoint.pk).update(
        circuit_probe_at=now,
        circuit_next_probe_at=now + timedelta(seconds=60),
        circuit_failed_probes=2,
    )

    page = client_for(member).get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()
    home = client_for(staff).get(reverse("support-home")).content.decode()

    # then the pages say so, not that the lease's end is the next probe
    assert "a probe is out now" in page
    assert "the next probe goes at" not in page
    assert "(2 failed probes so far)" in page
    assert "a probe is out now · 2 failed probes" in home


def test_retry_now_closes_the_circuit_and_sends_what_waited(client_for, member, open_circuit):
    endpoint, waiting = open_circuit

    response = client_for(member).post(reverse("endpoint-circuit-reset", args=[endpoint.pk]))

    assert response.status_code == 302
    endpoint.refresh_from_db()
    waiting.refresh_from_db()
    assert endpoint.circuit_state == "closed"
    assert endpoint.circuit_next_probe_at is None
    assert endpoint.consecutive_failures == 0
    assert waiting.next_attempt_at <= timezone.now()
    assert AuditEntry.objects.filter(action="endpoint.circuit_reset", target_id=endpoint.pk)


def test_a_viewer_cannot_reset_the_circuit(client_for, tenant, open_circuit):
    from endpoints.models import Membership

    from .conftest import make_user

    endpoint, _ = open_circuit
    viewer = make_user("vic")
    Membership.objects.create(user=viewer, tenant=tenant, role=Membership.Role.VIEWER)

    response = client_for(viewer).post(reverse("endpoint-circuit-reset", args=[endpoint.pk]))

    assert response.status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.circuit_state == "open"


def test_disable_then_enable_resets_the_circuit(open_circuit):
    endpoint, _ = open_circuit
    endpoint_disable(endpoint=endpoint, reason="maintenance")

    endpoint_enable(endpoint=endpoint)

    endpoint.refresh_from_db()
    assert endpoint.circuit_state == "closed"
    assert endpoint.consecutive_failures == 0


def test_support_sees_the_open_circuit_and_can_retry_now(client_for, staff, open_circuit):
    endpoint, waiting = open_circuit
    client = client_for(staff)

    home = client.get(reverse("support-home")).content.decode()
    response = client.post(reverse("support-circuit-reset", args=[endpoint.pk]))

    assert "Circuit open" in home
    assert reverse("support-circuit-reset", args=[endpoint.pk]) in home
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.circuit_state == "closed"
    assert AuditEntry.objects.filter(action="endpoint.circuit_reset", target_id=endpoint.pk)


def test_only_staff_reach_the_support_circuit_reset(client_for, member, open_circuit):
    endpoint, _ = open_circuit

    response = client_for(member).post(reverse("support-circuit-reset", args=[endpoint.pk]))

    assert response.status_code in (302, 403, 404)
    endpoint.refresh_from_db()
    assert endpoint.circuit_state == "open"
