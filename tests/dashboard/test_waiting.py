"""A pending delivery says what it waits for, never "next 0 minutes"."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deliveries import publish_event
from deliveries.models import Delivery
from deliveries.services.fanout import event_fan_out
from deliveries.templatetags.delivery_status import waiting
from endpoints.models import Endpoint

from .conftest import make_delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(endpoint, invoice_paid):
    return make_delivery(endpoint, invoice_paid, status=Delivery.Status.PENDING)


def _set(delivery, **fields):
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    return Delivery.objects.select_related("endpoint").get(pk=delivery.pk)


def test_a_retry_says_which_try_and_when(pending, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [5, 300, 1800]
    due = timezone.now() + timedelta(minutes=5)
    delivery = _set(pending, attempt_count=1, scheduled_attempts=1, next_attempt_at=due)

    assert waiting(delivery) == f"retry 2 of 4 at {_shown(due)} UTC"

    later = timezone.now() + timedelta(days=2)
    delivery = _set(pending, next_attempt_at=later)
    local = timezone.localtime(later)
    assert waiting(delivery) == f"retry 2 of 4 at {local:%b} {local.day}, {local:%H:%M} UTC"


def _shown(moment):
    """A time today with its seconds; another day's with its date (five minutes ahead is
    tomorrow when the test runs just before midnight)."""
    local = timezone.localtime(moment)
    if local.date() == timezone.localdate():
        return f"{local:%H:%M:%S}"
    return f"{local:%b} {local.day}, {local:%H:%M}"


def test_an_open_circuit_says_when_the_next_probe_goes(pending):
    probe = timezone.now() + timedelta(hours=8)
    Endpoint.objects.filter(pk=pending.endpoint_id).update(
        circuit_state="open", circuit_next_probe_at=probe
    )
    delivery = _set(pending, next_attempt_at=timezone.now())

    assert waiting(delivery).startswith("circuit open: the next probe goes at ")


def test_a_disabled_endpoint_and_a_manual_try_say_so(pending):
    delivery = _set(pending, manual_requested=True, next_attempt_at=timezone.now())
    assert waiting(delivery) == "manual try: going out now"

    Endpoint.objects.filter(pk=pending.endpoint_id).update(enabled=False)
    delivery = _set(pending)
    assert waiting(delivery).startswith("endpoint disabled")


def test_due_now_and_rate_limited(pending):
    delivery = _set(pending, next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert waiting(delivery) == "due now: going out"

    Endpoint.objects.filter(pk=pending.endpoint_id).update(rate_limit=5)
    delivery = _set(pending)
    assert waiting(delivery) == "due now, within the endpoint's rate limit (5/s)"


def test_the_log_and_the_delivery_page_show_it(client_for, member, pending):
    _set(pending, next_attempt_at=timezone.now() - timedelta(seconds=1))
    client = client_for(member)

    log = client.get(reverse("delivery-log")).content.decode()
    page = client.get(reverse("delivery-detail", args=[pending.pk])).content.decode()

    assert "due now: going out" in log
    assert "next 0" not in log
    assert "due now: going out" in page


def test_a_scheduled_event_says_when_it_goes_out(endpoint, client_for, member, tenant):
    later = timezone.now() + timedelta(days=2)
    event = publish_event(tenant, "invoice.paid", {}, deliver_at=later)
    event_fan_out(event_id=event.pk)

    page = client_for(member).get(reverse("event-detail", args=[event.pk])).content.decode()

    assert 'id="scheduled-event"' in page
    assert "scheduled: first try at " in page
