from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from deliveries import PublishError, publish_event
from deliveries.models import Delivery, Job
from deliveries.services.endpoint_lifecycle import endpoint_disable
from deliveries.services.fanout import event_fan_out, events_fan_out_pending
from deliveries.services.jobs import job_bulk_replay_create, job_recover_create, job_run
from deliveries.services.publishing import event_send_test
from endpoints.services import endpoint_create

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


def test_bulk_replay_leaves_held_and_scheduled_deliveries_to_their_turn(tenant, invoice_paid):
    ordered, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/o", ordered=True)
    for n in range(2):
        publish_event(tenant, "invoice.paid", {"n": n})
    later = timezone.now() + timedelta(days=1)
    scheduled = publish_event(tenant, "invoice.paid", {}, deliver_at=later)
    events_fan_out_pending(tenant_id=tenant.pk)
    held = Delivery.objects.filter(endpoint=ordered, status="held")
    assert held.count() == 2  # the second event and the scheduled one wait their turn

    job = job_bulk_replay_create(tenant=tenant, filters={})
    job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.params["result"] == {"replayed": 1, "skipped": 2}
    assert held.count() == 2
    assert Delivery.objects.get(event=scheduled).status == "held"


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


def test_a_job_whose_worker_died_is_resumed_where_it_stopped(tenant, invoice_paid, monkeypatch):
    # given a recover job whose worker died after its first chunk of two
    from deliveries.services import jobs as jobs_service
    from deliveries.services.sweep import JOB_STALE_SECONDS, sweep

    monkeypatch.setattr(jobs_service, "CHUNK", 2)
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    failed = [_failed_delivery(tenant, endpoint) for _ in range(4)]
    job = job_recover_create(endpoint=endpoint, since=timezone.now() - timedelta(hours=1))
    real_dispatch = jobs_service.deliveries_dispatch
    calls = []

    def dispatch_then_die(*, delivery_ids):  # type: ignore[no-untyped-def]
        calls.append(list(delivery_ids))
        if len(calls) == 2:
            raise SystemExit("worker killed")  # not an Exception: the job is left running
        return real_dispatch(delivery_ids=delivery_ids)

    monkeypatch.setattr(jobs_service, "deliveries_dispatch", dispatch_then_die)
    with pytest.raises(SystemExit):
        job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.done, job.resume_after) == ("running", 2, failed[1].pk)
    monkeypatch.setattr(jobs_service, "deliveries_dispatch", real_dispatch)

    # when the sweeper runs while the heartbeat is fresh, and then after it went stale
    sent = []
    monkeypatch.setattr("deliveries.services.sweep.jobs_send", lambda job_ids: sent.extend(job_ids))
    sweep()
    assert sent == []
    sweep(now=timezone.now() + timedelta(seconds=JOB_STALE_SECONDS + 1))
    assert sent == [job.pk]
    job_run(job_id=job.pk)

    # then the job finished the remaining chunk only, and every failed delivery was replayed once
    job.refresh_from_db()
    assert (job.status, job.runs, job.total, job.done) == ("succeeded", 2, 4, 4)
    assert job.params["result"] == {"replayed": 4, "skipped": 0}
    assert calls[0] == [failed[0].pk, failed[1].pk]
    assert set(
        Delivery.objects.filter(id__in=[d.pk for d in failed]).values_list("status", flat=True)
    ) == {"pending"}


def test_a_job_whose_worker_keeps_dying_is_failed_with_the_reason(tenant, invoice_paid):
    from deliveries.services.jobs import MAX_RUNS
    from deliveries.services.sweep import JOB_STALE_SECONDS, sweep

    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    job = job_recover_create(endpoint=endpoint, since=timezone.now() - timedelta(hours=1))
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING, runs=MAX_RUNS, heartbeat_at=timezone.now()
    )

    sweep(now=timezone.now() + timedelta(seconds=JOB_STALE_SECONDS + 1))

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == f"its worker stopped {MAX_RUNS} times while running it"
    assert job.finished_at is not None


def test_a_finished_job_reports_what_became_of_what_it_sent_again(tenant, invoice_paid):
    from deliveries.services.jobs import job_outcomes, job_scope

    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    since = timezone.now() - timedelta(hours=1)
    failed = [_failed_delivery(tenant, endpoint) for _ in range(3)]
    job = job_recover_create(endpoint=endpoint, since=since)
    job = job_run(job_id=job.pk)

    # Nothing has been sent yet: all three wait.
    assert job_outcomes(job) == {
        "delivered": 0,
        "still_failing": 0,
        "in_progress": 3,
        "cancelled": 0,
        "skipped": 0,
        "tracked": 3,
    }
    Delivery.objects.filter(pk=failed[0].pk).update(status=Delivery.Status.SUCCEEDED)
    Delivery.objects.filter(pk=failed[1].pk).update(status=Delivery.Status.FAILED)
    outcomes = job_outcomes(job)
    assert (outcomes["delivered"], outcomes["still_failing"], outcomes["in_progress"]) == (1, 1, 1)
    assert job_scope(job) == {"status": "failed", "since": since.isoformat(), "until": None}
