"""Celery tasks: thin. They take ids, call a service, and leave retries to the services."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from platform_core.conf import webhooks_settings

from .services.engines import engine, engine_wake_deliveries
from .services.fanout import event_fan_out, fan_out_tenant_drain
from .services.jobs import job_run
from .services.partitions import partitions_ensure as partitions_ensure_service
from .services.retention import retention_purge
from .services.sweep import sweep as sweep_service


@shared_task(name="deliveries.fan_out", ignore_result=True)
def fan_out(event_id: str) -> int:
    return event_fan_out(event_id=event_id)


@shared_task(name="deliveries.fan_out_tenant", ignore_result=True)
def fan_out_tenant(tenant_id: int) -> int:
    return fan_out_tenant_drain(tenant_id=tenant_id)


@shared_task(name="deliveries.deliver", ignore_result=True)
def deliver(delivery_ids: list[int]) -> dict[str, int]:
    """A wake-up: this process's engine claims the work when it has room."""
    return {"woken": engine_wake_deliveries(delivery_ids=delivery_ids)}


@worker_ready.connect
def _start_engine(sender: object = None, **kwargs: object) -> None:
    """Threads and solo pools run tasks in the worker's own process: start its engine there."""
    if not _forks(sender):
        engine().start()


@worker_process_init.connect
def _start_engine_in_child(**kwargs: object) -> None:
    """A prefork child runs the tasks: it gets its own engine."""
    engine().start()


def _forks(worker: object) -> bool:
    pool = getattr(worker, "pool_cls", None)
    return "prefork" in str(getattr(pool, "__module__", "")) if pool is not None else False


@worker_shutdown.connect
def _finish_in_flight(**kwargs: object) -> None:
    """A warm shutdown lets requests in flight finish and be recorded, instead of leaving them to
    the sweeper (which would send them again after their lease)."""
    engine().stop(timeout=webhooks_settings().attempt_timeout + 5)


@shared_task(name="deliveries.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    report = sweep_service()
    return {
        "leases_recovered": report.leases_recovered,
        "fan_outs": report.fan_outs,
        "cancelled": report.cancelled,
    }


@shared_task(name="deliveries.run_job", ignore_result=True)
def run_job(job_id: int) -> None:
    job_run(job_id=job_id)


@shared_task(name="deliveries.purge", ignore_result=True)
def purge() -> dict[str, int | bool]:
    return retention_purge().as_dict()


@shared_task(name="deliveries.partitions_ensure", ignore_result=True)
def partitions_ensure() -> list[str]:
    """Keep the attempt partitions created ahead (PostgreSQL; a no-op elsewhere)."""
    return partitions_ensure_service()
