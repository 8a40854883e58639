from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from deliveries import PublishError, publish_event
from deliveries.models import Delivery, Job
from deliveries.services.fanout import event_fan_out
from deliveries.services.jobs import job_bulk_replay_create, job_recover_create, job_run
from deliveries.services.publishing import event_send_test
from endpoints.services import endpoint_create, endpoint_disable

pytestmark = pytest.mark.django_db


def _failed_delivery(tenant, endpoint):
    event = publish_event(tenant, "invoice.paid", {})
    event_fan_out(event_id=event.pk)
    delivery = Delivery.objects.get(event=event, endpoint=endpoint)
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", finished_at=timezone.now())
    return delivery


def test_recover_replays_what_failed_in_the_window(tenant, invoice_paid):
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    failed = [_failed_delivery(tenant, endpoint) for _ in range(3)]
    job = job_recover_create(endpoint=endpoint, since=timezone.now() - timedelta(hours=1))

    job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.total, job.done) == ("succeeded", 3, 3)
    assert job.params["result"] == {"replayed": 3, "skipped": 0}
    assert set(
        Delivery.objects.filter(id__in=[d.pk for d in failed]).values_list(
            "status", "manual_requested"
        )
    ) == {("pending", True)}


def test_bulk_replay_counts_what_it_skipped(tenant, invoice_paid):
    live, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/a")
    dead, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/b")
    _failed_delivery(tenant, live)
    _failed_delivery(tenant, dead)
    endpoint_disable(endpoint=dead, reason="test")

    job = job_bulk_replay_create(tenant=tenant, filters={"status": "failed"})
    job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.params["result"] == {"replayed": 1, "skipped": 1}


def test_bulk_replay_with_only_a_tenant_is_allowed_but_nothing_at_all_is_not(tenant):
    assert job_bulk_replay_create(tenant=tenant).kind == Job.Kind.BULK_REPLAY
    with pytest.raises(ValidationError, match="Choose deliveries, a tenant"):
        job_bulk_replay_create(tenant=None)


def test_recover_window_is_checked(tenant):
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    now = timezone.now()
    with pytest.raises(ValidationError, match="until must be after since"):
        job_recover_create(
            endpoint=endpoint, since=now - timedelta(hours=1), until=now - timedelta(hours=2)
        )
    with pytest.raises(ValidationError, match="in the future"):
        job_recover_create(endpoint=endpoint, since=now + timedelta(hours=1))


def test_test_event_to_a_disabled_endpoint_is_refused(tenant, invoice_paid):
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    endpoint_disable(endpoint=endpoint, reason="test")
    endpoint.refresh_from_db()
    with pytest.raises(PublishError, match="endpoint is disabled"):
        event_send_test(endpoint=endpoint, event_type="invoice.paid")


def test_a_purged_payload_cannot_be_replayed(tenant, invoice_paid):
    from deliveries.models import Event
    from deliveries.services.lifecycle import delivery_replay

    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    delivery = _failed_delivery(tenant, endpoint)
    Event.objects.filter(pk=delivery.event_id).update(body="")
    delivery.refresh_from_db()

    with pytest.raises(ValidationError, match="removed by retention"):
        delivery_replay(delivery=delivery)
    job = job_bulk_replay_create(tenant=tenant, filters={"status": "failed"})
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.total == 0
    assert Event.objects.get(pk=delivery.event_id).payload is None


def test_a_job_runs_once_even_if_sent_twice(tenant, invoice_paid):
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    _failed_delivery(tenant, endpoint)
    job = job_recover_create(endpoint=endpoint, since=timezone.now() - timedelta(hours=1))

    job_run(job_id=job.pk)
    Delivery.objects.update(status="failed")  # as if the replay had failed again
    again = job_run(job_id=job.pk)

    assert again.status == "succeeded"
    assert Delivery.objects.get().status == "failed"  # the second message did nothing


def test_the_sweeper_resends_a_job_whose_message_was_lost(tenant, invoice_paid):
    from deliveries.services.sweep import sweep

    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    job_recover_create(endpoint=endpoint, since=timezone.now() - timedelta(hours=1))

    assert sweep().jobs == 0  # just created: its message is presumably on its way
    assert sweep(now=timezone.now() + timedelta(minutes=5)).jobs == 1
