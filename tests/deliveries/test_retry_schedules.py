"""Retry schedules per endpoint and per event type: the endpoint's comes first, then the event
type's, then the platform's; on the engine and the sweeper's lease recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from deliveries import publish_event
from deliveries.models import Attempt, Delivery
from deliveries.services.endpoint_lifecycle import endpoint_update
from deliveries.services.engines import engine_new
from deliveries.services.fanout import event_fan_out
from deliveries.services.sweep import sweep
from deliveries.templatetags.delivery_status import waiting
from endpoints.models import Endpoint
from endpoints.retry_schedule import (
    ScheduleError,
    schedule_parse,
    schedule_text,
    schedule_validate,
)
from endpoints.services import endpoint_create, event_type_update

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _platform_schedule(settings):  # type: ignore[no-untyped-def]
    settings.WEBHOOKS_RETRY_SCHEDULE = [5, 5, 5]
    settings.WEBHOOKS_RETRY_JITTER = 0


# --- Writing a schedule ---------------------------------------------------------------------


def test_durations_read_as_seconds_and_write_back_the_same():
    assert schedule_parse("10s, 5m, 1h, 1d") == [10, 300, 3600, 86400]
    assert schedule_parse("30 90 2.5m") == [30, 90, 150]
    assert schedule_text([10, 300, 3600, 86400, 90]) == "10s, 5m, 1h, 1d, 90s"
    assert schedule_parse(schedule_text([10, 300, 7200])) == [10, 300, 7200]
    assert schedule_parse("") is None
    assert schedule_text(None) == ""
    assert schedule_parse("none") == []
    assert schedule_text([]) == "none"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5s, soon", "Retry 2: 'soon' is not a duration"),
        ("0.5s", r"Retry 1: a delay is between 1 second and 7 days \(604800 seconds\); got 0.5"),
        ("8d", "got 691200"),
        (", ".join(["1m"] * 31), "At most 30 retries; got 31"),
    ],
)
def test_a_schedule_that_cannot_be_kept_says_which_retry_and_why(value, message):
    with pytest.raises(ScheduleError, match=message):
        schedule_parse(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5, 10", "Give a list of delays in seconds"),
        ({"first": 5}, "Give a list of delays in seconds"),
        ([5, True], r"Retry 2: give a number of seconds; got True"),
        ([5, "10"], r"Retry 2: give a number of seconds; got '10'"),
        ([float("inf")], "Retry 1: give a number of seconds"),
        ([0], "Retry 1: a delay is between 1 second and 7 days"),
        ([10**400], "Retry 1: a delay is between 1 second and 7 days .* too large to hold"),
    ],
)
def test_the_api_form_of_a_schedule_is_checked_the_same_way(value, message):
    with pytest.raises(ScheduleError, match=message):
        schedule_validate(value)


def test_services_refuse_a_bad_schedule_naming_the_field(tenant, invoice_paid, receiver):
    with pytest.raises(ValidationError) as raised:
        endpoint_create(tenant=tenant, url=receiver.url("/ok"), retry_schedule=[0])
    assert "retry_schedule" in raised.value.message_dict
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"), retry_schedule=[60])
    with pytest.raises(ValidationError):
        endpoint_update(endpoint=endpoint, retry_schedule=[60] * 31)
    endpoint.refresh_from_db()
    assert endpoint.retry_schedule == [60]  # nothing lost
    with pytest.raises(ValidationError) as raised:
        event_type_update(event_type=invoice_paid, retry_schedule="1h")
    assert "retry_schedule" in raised.value.message_dict


# --- Following it ---------------------------------------------------------------------------


def _failing(tenant, receiver, name: str, **kwargs) -> Endpoint:  # type: ignore[no-untyped-def]
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url(f"/status/500/{name}"), **kwargs)
    return endpoint


def _due_in(delivery: Delivery) -> float:
    delivery.refresh_from_db()
    assert delivery.next_attempt_at is not None
    return (delivery.next_attempt_at - timezone.now()).total_seconds()


def test_the_engine_retries_on_the_endpoints_else_the_event_types_else_the_platforms(
    tenant, invoice_paid, receiver
):
    event_type_update(event_type=invoice_paid, retry_schedule=[3600, 3600])
    own = _failing(tenant, receiver, "own", retry_schedule=[600])
    single = _failing(tenant, receiver, "single", retry_schedule=[])
    inherits = _failing(tenant, receiver, "inherits")
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    event_fan_out(event_id=event.pk)

    engine_new().run_until_idle()

    by_endpoint = {d.endpoint_id: d for d in Delivery.objects.filter(event=event)}
    assert 590 < _due_in(by_endpoint[own.pk]) <= 600
    assert 3590 < _due_in(by_endpoint[inherits.pk]) <= 3600
    # No retries at all: failed after its one try, which the log holds.
    assert by_endpoint[single.pk].status == Delivery.Status.FAILED
    assert Attempt.objects.filter(delivery=by_endpoint[single.pk]).count() == 1

    # Back to inheriting: the platform's schedule once the event type has none either.
    event_type_update(event_type=invoice_paid, retry_schedule=None)
    endpoint_update(endpoint=own, retry_schedule=None)
    again = publish_event(tenant, "invoice.paid", {"n": 2})
    event_fan_out(event_id=again.pk)
    engine_new().run_until_idle()
    assert 4 < _due_in(Delivery.objects.get(event=again, endpoint=own)) <= 5


def test_a_delivery_fails_when_its_own_schedule_is_used_up(tenant, invoice_paid, receiver):
    endpoint = _failing(tenant, receiver, "two", retry_schedule=[1])
    event = publish_event(tenant, "invoice.paid", {})
    event_fan_out(event_id=event.pk)
    engine = engine_new()
    engine.run_until_idle()
    delivery = Delivery.objects.get(event=event, endpoint=endpoint)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())

    engine.run_until_idle()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert list(Attempt.objects.filter(delivery=delivery).values_list("number", flat=True)) == [
        1,
        2,
    ]


def test_a_lost_lease_is_recorded_on_the_endpoints_schedule(tenant, invoice_paid, receiver):
    endpoint = _failing(tenant, receiver, "lease", retry_schedule=[])
    event = publish_event(tenant, "invoice.paid", {})
    event_fan_out(event_id=event.pk)
    Delivery.objects.filter(endpoint=endpoint).update(
        status=Delivery.Status.SENDING,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )

    sweep()

    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == Delivery.Status.FAILED  # the platform's [5, 5, 5] would retry


def test_a_waiting_delivery_says_whose_schedule_it_follows(tenant, invoice_paid, receiver):
    event_type_update(event_type=invoice_paid, retry_schedule=[60, 60, 60, 60])
    own = _failing(tenant, receiver, "w-own", retry_schedule=[600])
    inherits = _failing(tenant, receiver, "w-type")
    event = publish_event(tenant, "invoice.paid", {})
    event_fan_out(event_id=event.pk)
    engine_new().run_until_idle()

    def text(endpoint: Endpoint) -> str:
        return waiting(Delivery.objects.select_related("endpoint").get(endpoint=endpoint))

    assert text(own).startswith("retry 2 of 2 at ")
    assert text(own).endswith("(the endpoint's retry schedule)")
    assert text(inherits).startswith("retry 2 of 5 at ")
    assert text(inherits).endswith("(the event type's retry schedule)")


def test_create_endpoint_takes_a_retry_schedule(tenant, receiver, capsys):  # type: ignore[no-untyped-def]
    call_command(
        "create_endpoint", tenant.slug, receiver.url("/ok"), "--retry-schedule", "30s, 10m, 2h"
    )
    assert Endpoint.objects.get().retry_schedule == [30, 600, 7200]
    with pytest.raises(Exception, match="--retry-schedule: Retry 1: 'soon' is not a duration"):
        call_command(
            "create_endpoint", tenant.slug, receiver.url("/ok"), "--retry-schedule", "soon"
        )
