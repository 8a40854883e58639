import uuid
from datetime import timedelta

import pytest
from celery.signals import before_task_publish
from django.utils import timezone

from deliveries import publish_event
from deliveries.models import Attempt, Delivery, Event
from deliveries.services.endpoint_lifecycle import endpoint_disable, endpoint_enable
from deliveries.services.fanout import event_fan_out, fan_out_tenant_drain
from deliveries.services.sweep import LEASE_LOST_ERROR, sweep
from endpoints.services import endpoint_create
from tests.engine import deliver_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery(tenant, invoice_paid, receiver):
    endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    event_fan_out(event_id=event.pk)
    return Delivery.objects.get(event=event)


def _claimed_by_a_worker(delivery, *, lease_seconds):
    """What a worker's claim writes; the worker then dies, or is still sending."""
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.SENDING,
        claim_token=uuid.uuid4(),
        lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds),
    )


def test_expired_lease_is_recorded_and_sent_again(delivery, receiver, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0, 0]
    _claimed_by_a_worker(delivery, lease_seconds=-1)

    report = sweep()
    deliver_due()

    delivery.refresh_from_db()
    lost, sent = Attempt.objects.filter(delivery=delivery).order_by("number")
    assert report.leases_recovered == 1
    assert (lost.number, lost.error, lost.response_status) == (1, LEASE_LOST_ERROR, 0)
    assert (sent.number, sent.response_status) == (2, 200)
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert len(receiver.received()) == 1


def test_live_lease_is_left_alone(delivery):
    _claimed_by_a_worker(delivery, lease_seconds=60)
    assert sweep().leases_recovered == 0
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENDING


def test_event_whose_fan_out_never_ran_is_fanned_out_again(tenant, invoice_paid):
    event = publish_event(tenant, "invoice.paid", {})
    assert sweep().fan_outs == 0  # its fan-out message is presumably on its way
    later = sweep(now=timezone.now() + timedelta(minutes=5))
    assert later.fan_outs == 1
    assert Event.objects.get(pk=event.pk).fanout_dispatched_until > timezone.now()


def test_overdue_events_are_fanned_out_by_one_drain_per_tenant(
    tenant, other_tenant, invoice_paid, django_capture_on_commit_callbacks
):
    """Workers down past the grace left a backlog: the sweeper sends one message per tenant,
    whose drain takes the tenant's events in bulk, not one message (and one fan-out) per event."""
    for n in range(5):
        publish_event(tenant, "invoice.paid", {"n": n})
    for n in range(3):
        publish_event(other_tenant, "invoice.paid", {"n": n})
    sent: list[tuple[str, list[object]]] = []

    def published(sender: str, body: tuple, **_: object) -> None:
        sent.append((sender, list(body[0])))

    before_task_publish.connect(published, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            report = sweep(now=timezone.now() + timedelta(minutes=5))
    finally:
        before_task_publish.disconnect(published)

    assert report.fan_outs == 8
    assert sorted(sent) == sorted(
        [
            ("deliveries.fan_out_tenant", [tenant.pk]),
            ("deliveries.fan_out_tenant", [other_tenant.pk]),
        ]
    )
    assert fan_out_tenant_drain(tenant_id=tenant.pk) == 5
    assert fan_out_tenant_drain(tenant_id=other_tenant.pk) == 3
    assert not Event.objects.filter(fanned_out_at__isnull=True).exists()


def test_disable_cancels_and_enable_resumes(delivery):
    endpoint = delivery.endpoint
    endpoint_disable(endpoint=endpoint, reason="maintenance")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.CANCELLED

    endpoint_enable(endpoint=endpoint)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.next_attempt_at <= timezone.now()


def test_enable_does_not_resume_what_left_the_retry_window(delivery, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [60]
    endpoint = delivery.endpoint
    endpoint_disable(endpoint=endpoint, reason="maintenance")
    Delivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    endpoint_enable(endpoint=endpoint)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.CANCELLED


def test_the_sweeper_sends_no_messages_for_due_work(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(dispatched_until=None)

    sweep()  # every worker's engine finds due work itself
    delivery.refresh_from_db()
    assert delivery.dispatched_until is None
