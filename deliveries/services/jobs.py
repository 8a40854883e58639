"""Bulk actions as background jobs: recover an endpoint, replay everything matching a filter."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from deliveries.models import Delivery, Job
from deliveries.selectors import deliveries_filter
from endpoints.models import Endpoint, Tenant

from .dispatch import TASK_RUN_JOB, deliveries_dispatch, task_send

logger = logging.getLogger(__name__)

CHUNK = 500


def _enqueue(job: Job) -> None:
    transaction.on_commit(lambda: jobs_send(job_ids=[job.pk]))


def jobs_send(*, job_ids: list[int]) -> None:
    """Hand jobs to the workers. A broker error is logged: the job row stays ``queued`` and the
    sweeper sends it again, so the caller (a web request) never fails after its commit."""
    for job_id in job_ids:
        try:
            task_send(TASK_RUN_JOB, job_id)
        except Exception:  # noqa: BLE001  the row is the truth; the sweeper re-sends
            logger.warning("broker unavailable; the sweeper will start job %s", job_id)


def _window_check(since: datetime, until: datetime | None) -> None:
    if since.tzinfo is None or (until is not None and until.tzinfo is None):
        raise ValidationError({"since": "Give times with a timezone (for example ...Z)."})
    if until is not None and until <= since:
        raise ValidationError({"until": "until must be after since."})
    if since > timezone.now():
        raise ValidationError({"since": "since is in the future."})


def job_recover_create(
    *, endpoint: Endpoint, since: datetime, until: datetime | None = None, user: Any = None
) -> Job:
    """Re-send every delivery to ``endpoint`` that ended failed within ``[since, until)``."""
    _window_check(since, until)
    if not endpoint.enabled:
        raise ValidationError({"endpoint": "The endpoint is disabled; enable it first."})
    job = Job.objects.create(
        kind=Job.Kind.RECOVER,
        tenant_id=endpoint.tenant_id,
        endpoint=endpoint,
        params={
            "status": Delivery.Status.FAILED,
            "since": since.isoformat(),
            "until": until.isoformat() if until else None,
        },
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    _enqueue(job)
    return job


BULK_FILTERS = ("status", "waiting", "endpoint", "event_type", "since", "until")


def job_bulk_replay_create(
    *,
    tenant: Tenant | None,
    filters: dict[str, Any] | None = None,
    delivery_ids: list[int] | None = None,
    user: Any = None,
) -> Job:
    """Replay the chosen deliveries, or every one matching ``filters`` ("all that match")."""
    filters = {
        k: v for k, v in (filters or {}).items() if k in BULK_FILTERS and v not in (None, "")
    }
    if not delivery_ids and not filters and tenant is None:
        # Replaying every delivery of every tenant is never what support means.
        raise ValidationError(
            {"filters": "Choose deliveries, a tenant, or give at least one filter."}
        )
    params: dict[str, Any] = {"filters": filters}
    if delivery_ids:
        params["delivery_ids"] = sorted({int(i) for i in delivery_ids})
    job = Job.objects.create(
        kind=Job.Kind.BULK_REPLAY,
        tenant=tenant,
        params=params,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    _enqueue(job)
    return job


def _job_queryset(job: Job):  # type: ignore[no-untyped-def]
    params = job.params
    if job.kind == Job.Kind.RECOVER:
        qs = deliveries_filter(tenant=job.tenant, endpoint=job.endpoint_id, status="failed")
        qs = qs.filter(finished_at__gte=parse_datetime(params["since"]))
        if params.get("until"):
            qs = qs.filter(finished_at__lt=parse_datetime(params["until"]))
        return qs
    filters = dict(params.get("filters") or {})
    for key in ("since", "until"):
        if isinstance(filters.get(key), str):
            filters[key] = parse_datetime(filters[key])
    qs = deliveries_filter(tenant=job.tenant, **filters)
    if params.get("delivery_ids"):
        qs = qs.filter(id__in=params["delivery_ids"])
    return qs


#: Replayed deliveries whose outcome a job reports (their ids are kept in its params).
OUTCOMES_TRACKED = 10_000


def job_outcomes(job: Job) -> dict[str, int]:
    """What became of the deliveries ``job`` sent again, now: delivered, still failing (their
    new tries failed too), in progress (waiting or being sent) and skipped (on a disabled
    endpoint, mid-attempt, with their payload gone, or not due yet: held by an ordered endpoint
    or scheduled). Counted over the first
    ``OUTCOMES_TRACKED`` replayed; ``tracked`` says how many that is."""
    ids = job.params.get("replayed_ids") or []
    counts = {"delivered": 0, "still_failing": 0, "in_progress": 0, "cancelled": 0}
    by_status = {
        Delivery.Status.SUCCEEDED: "delivered",
        Delivery.Status.FAILED: "still_failing",
        Delivery.Status.HELD: "in_progress",
        Delivery.Status.PENDING: "in_progress",
        Delivery.Status.SENDING: "in_progress",
        Delivery.Status.CANCELLED: "cancelled",
    }
    for start in range(0, len(ids), 1000):
        rows = (
            Delivery.objects.filter(id__in=ids[start : start + 1000])
            .values("status")
            .annotate(n=Count("id"))
        )
        for row in rows:
            counts[by_status[row["status"]]] += row["n"]
    replayed = job.params.get("replayed", (job.params.get("result") or {}).get("replayed", 0))
    return {
        **counts,
        "skipped": max(0, job.done - replayed),
        "tracked": len(ids),
    }


def job_state(job: Job, outcomes: dict[str, int]) -> str:
    """The job's status as a person reads it beside its counts: one that has looked at
    everything while some of its replays are still waiting or going out is ``sending``, not yet
    ``succeeded``."""
    if job.status == Job.Status.SUCCEEDED and outcomes.get("in_progress"):
        return "sending"
    return str(job.status)


def job_scope(job: Job) -> dict[str, object]:
    """What the job ran on (its window and filters), without its bookkeeping."""
    return {k: v for k, v in job.params.items() if k not in ("replayed_ids", "replayed", "result")}


#: Runs of one job after which a job whose worker keeps dying is failed instead of resumed.
MAX_RUNS = 3


def job_run(*, job_id: int) -> Job | None:
    """Run a queued job: replays in chunks, recording progress (and a heartbeat) after each.

    A job resumed by the sweeper (its worker died) carries on after the last delivery it
    finished, so nothing is replayed twice and nothing is skipped.
    """
    now = timezone.now()
    # Claim it: a job sent twice (by the sweeper after a lost message) runs once.
    if not Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING,
        started_at=Coalesce(F("started_at"), now),
        heartbeat_at=now,
        runs=F("runs") + 1,
    ):
        return Job.objects.filter(pk=job_id).first()
    job = Job.objects.get(pk=job_id)
    # Deliveries whose event payload retention removed cannot be sent again.
    qs = _job_queryset(job).exclude(status=Delivery.Status.SENDING).exclude(event__body="")
    done = replayed = 0
    tracked: list[int] = []
    if job.resume_after is not None:
        qs = qs.filter(id__gt=job.resume_after)
        done, replayed = job.done, job.params.get("replayed", 0)
        tracked = list(job.params.get("replayed_ids", []))
    ids = list(qs.order_by("id").values_list("id", flat=True))
    Job.objects.filter(pk=job.pk).update(total=done + len(ids), done=done)
    try:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            with transaction.atomic():
                taken = list(
                    Delivery.objects.filter(id__in=chunk, endpoint__enabled=True)
                    .exclude(status=Delivery.Status.SENDING)
                    # Not tried yet and not due: an ordered endpoint's turn, a scheduled time.
                    .exclude(status=Delivery.Status.HELD)
                    .exclude(event__deliver_at__gt=timezone.now())
                    .values_list("id", flat=True)
                )
                replayed += Delivery.objects.filter(id__in=taken).update(
                    status=Delivery.Status.PENDING,
                    next_attempt_at=timezone.now(),
                    manual_requested=True,
                    dispatched_until=None,
                    finished_at=None,
                    cancel_reason="",
                )
                tracked.extend(taken[: max(0, OUTCOMES_TRACKED - len(tracked))])
                deliveries_dispatch(delivery_ids=chunk)
                done += len(chunk)
                Job.objects.filter(pk=job.pk).update(
                    done=done,
                    resume_after=chunk[-1],
                    heartbeat_at=timezone.now(),
                    params={**job.params, "replayed": replayed, "replayed_ids": tracked},
                )
    except Exception as exc:
        logger.exception("job failed", extra={"job_id": job.pk})
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.FAILED, error=str(exc)[:500], finished_at=timezone.now()
        )
        raise
    # ``done`` counts deliveries looked at; the result says how many were really replayed
    # (those on disabled endpoints, or mid-attempt, are skipped).
    params = {k: v for k, v in job.params.items() if k != "replayed"}
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.SUCCEEDED,
        finished_at=timezone.now(),
        heartbeat_at=None,
        params={
            **params,
            "replayed_ids": tracked,
            "result": {"replayed": replayed, "skipped": done - replayed},
        },
    )
    job.refresh_from_db()
    return job


def jobs_recover_stalled(*, now: datetime, stale_after: float) -> list[int]:
    """Running jobs whose heartbeat stopped: queued again to resume, or failed after
    ``MAX_RUNS`` runs. Returns the ids queued again; the caller sends them."""
    stalled = Job.objects.filter(
        status=Job.Status.RUNNING, heartbeat_at__lt=now - timedelta(seconds=stale_after)
    )
    failed = list(stalled.filter(runs__gte=MAX_RUNS).values_list("id", flat=True))
    if failed:
        Job.objects.filter(id__in=failed, status=Job.Status.RUNNING).update(
            status=Job.Status.FAILED,
            finished_at=now,
            error=f"its worker stopped {MAX_RUNS} times while running it",
        )
    resumed = list(stalled.filter(runs__lt=MAX_RUNS).values_list("id", flat=True))
    if resumed:
        Job.objects.filter(id__in=resumed, status=Job.Status.RUNNING).update(
            status=Job.Status.QUEUED
        )
        for job_id in resumed:
            logger.warning("job %s lost its worker; resuming it", job_id)
    return resumed
