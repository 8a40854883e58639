"""The sweeper: the database is the truth, the broker only distributes work.

Every few seconds (Celery beat) it repairs what a lost message or a dead worker left behind:
- deliveries whose worker died mid-attempt (``sending`` past the lease), recording the lost try;
- events whose fan-out never ran; bulk jobs that lost their message or their worker;
- ordered endpoints whose next delivery was never released.
Due deliveries need no message: every worker's engine looks for due work itself.
On PostgreSQL it claims rows with ``SELECT ... FOR UPDATE SKIP LOCKED``, so several sweepers
never fight over the same rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from deliveries import policy
from deliveries.engine.state import delivery_next_state
from deliveries.models import Attempt, Delivery, Event, Job
from deliveries.ordering import ordered_repair
from deliveries.schedules import retry_schedule
from platform_core import metrics
from platform_core.conf import webhooks_settings
from platform_core.db import skip_locked

from .dispatch import deliveries_dispatch, fan_out_tenants_enqueue, ordered_release_and_dispatch
from .jobs import jobs_recover_stalled, jobs_send
from .operational import delivery_exhausted

logger = logging.getLogger(__name__)

SWEEP_LIMIT = 5000
LEASE_LOST_ERROR = "worker lost: no result before the lease expired"


@dataclass
class SweepReport:
    leases_recovered: int = 0
    fan_outs: int = 0
    cancelled: int = 0
    jobs: int = 0
    released: int = 0  # ordered endpoints' heads released by the repair pass


def _recover_leases(now: datetime) -> int:
    ws = webhooks_settings()
    with transaction.atomic():
        expired = list(
            skip_locked(
                Delivery.objects.filter(status=Delivery.Status.SENDING, lease_expires_at__lt=now)
                .order_by("lease_expires_at")
                .select_related("endpoint")
            )[:SWEEP_LIMIT]
        )
        attempts = []
        finished_ordered: set[str] = set()
        for delivery in expired:
            started = (delivery.lease_expires_at or now) - timedelta(seconds=ws.lease_seconds)
            decision, fields = delivery_next_state(
                delivery,
                status=0,
                error=LEASE_LOST_ERROR,
                started_at=started,
                now=now,
                ws=ws,
                schedule=retry_schedule(
                    delivery.endpoint.retry_schedule, delivery.event_type_id, ws
                ),
            )
            attempts.append(
                Attempt(
                    delivery_id=delivery.pk,
                    endpoint_id=delivery.endpoint_id,
                    number=fields["attempt_count"],
                    trigger=(
                        Attempt.Trigger.MANUAL
                        if delivery.manual_requested
                        else Attempt.Trigger.SCHEDULED
                    ),
                    started_at=started,
                    duration_ms=int((now - started).total_seconds() * 1000),
                    request_url=delivery.endpoint.url,
                    error=LEASE_LOST_ERROR,
                )
            )
            kept = Delivery.objects.filter(pk=delivery.pk, claim_token=delivery.claim_token).update(
                **fields
            )
            metrics.attempt_recorded(
                status=0, error=LEASE_LOST_ERROR, duration_ms=attempts[-1].duration_ms
            )
            if kept and decision.outcome is not policy.Outcome.RETRY:
                metrics.delivery_finished(outcome="failed", event_created_at=None, finished_at=now)
                delivery_exhausted(delivery=delivery)
                if delivery.endpoint.ordered:
                    finished_ordered.add(delivery.endpoint_id)
        Attempt.objects.bulk_create(attempts)
        ordered_release_and_dispatch(finished_ordered, now=now)
    if expired:
        logger.warning("recovered %d deliveries from expired leases", len(expired))
    return len(expired)


def _cancel_orphans(now: datetime) -> int:
    """Due deliveries of endpoints disabled or deleted meanwhile never go out; cancel them."""
    count = Delivery.objects.filter(
        Q(endpoint__enabled=False) | Q(endpoint__deleted_at__isnull=False),
        Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        | Q(status=Delivery.Status.HELD),
    ).update(status=Delivery.Status.CANCELLED, cancel_reason="endpoint disabled", finished_at=now)
    metrics.deliveries_cancelled(count=count)
    return count


def _fan_out_stragglers(now: datetime) -> int:
    ws = webhooks_settings()
    with transaction.atomic():
        rows = list(
            skip_locked(
                Event.objects.filter(
                    fanned_out_at__isnull=True,
                    created_at__lt=now - timedelta(seconds=ws.fanout_grace),
                )
                .filter(
                    Q(fanout_dispatched_until__isnull=True) | Q(fanout_dispatched_until__lt=now)
                )
                .order_by("created_at")
                .values_list("id", "tenant_id")
            )[:SWEEP_LIMIT]
        )
        if rows:
            # One drain per tenant, not one message per event: after workers were down past
            # the grace, a backlog then fans out in bulk instead of one event at a time.
            fan_out_tenants_enqueue(
                event_ids=[event_id for event_id, _ in rows],
                tenant_ids=sorted({tenant_id for _, tenant_id in rows}),
            )
    return len(rows)


#: A running job whose worker has not written a heartbeat for this long is taken to be dead.
JOB_STALE_SECONDS = 120.0


def _requeue_jobs(now: datetime) -> int:
    """Bulk jobs still queued long after they were created lost their message, and running jobs
    whose heartbeat stopped lost their worker: send them (again)."""
    resumed = jobs_recover_stalled(now=now, stale_after=JOB_STALE_SECONDS)
    cutoff = now - timedelta(seconds=webhooks_settings().dispatch_timeout)
    lost = Job.objects.filter(status=Job.Status.QUEUED, created_at__lt=cutoff).order_by("id")
    ids = sorted({*lost.values_list("id", flat=True)[:100], *resumed})
    if ids:
        jobs_send(job_ids=ids)
    return len(ids)


def sweep(*, now: datetime | None = None) -> SweepReport:
    now = now or timezone.now()
    report = SweepReport()
    report.leases_recovered = _recover_leases(now)
    report.cancelled = _cancel_orphans(now)
    report.fan_outs = _fan_out_stragglers(now)
    report.jobs = _requeue_jobs(now)
    released = ordered_repair(now=now)
    if released:
        deliveries_dispatch(delivery_ids=released)
    report.released = len(released)
    return report
