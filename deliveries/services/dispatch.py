"""Handing work to the broker. The database stays the source of truth: every message sent here
is also recorded as ``dispatched_until``, and the sweeper re-sends what is not done by then."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from deliveries.engine import has_local, wake_local
from deliveries.models import Delivery, Event
from deliveries.ordering import ordered_release
from platform_core.celery import QUEUE_DELIVER, QUEUE_RETRY, app
from platform_core.conf import webhooks_settings

logger = logging.getLogger(__name__)


def _chunks(items: Sequence[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# Tasks are sent by name (``deliveries/tasks.py`` registers them), so services never import
# the tasks module that calls them.
TASK_DELIVER = "deliveries.deliver"
TASK_FAN_OUT = "deliveries.fan_out"
TASK_FAN_OUT_TENANT = "deliveries.fan_out_tenant"
TASK_RUN_JOB = "deliveries.run_job"


def task_send(name: str, *args: Any, queue: str | None = None) -> None:
    """Send one task message; raises what the broker raises (callers log and leave the row to
    the sweeper)."""
    app.send_task(name, args=list(args), queue=queue)


def deliveries_enqueue(*, delivery_ids: Sequence[int], retry: bool = False) -> int:
    """Send delivery ids to the workers in batches; returns the number of messages."""
    size = webhooks_settings().delivery_batch_size
    queue = QUEUE_RETRY if retry else QUEUE_DELIVER
    messages = 0
    for chunk in _chunks(sorted(delivery_ids), size):
        try:
            task_send(TASK_DELIVER, chunk, queue=queue)
        except Exception:  # noqa: BLE001  the rows are the truth; the sweeper re-sends
            logger.warning(
                "broker unavailable; the sweeper will dispatch %d deliveries", len(chunk)
            )
            continue
        messages += 1
    return messages


def deliveries_dispatch(*, delivery_ids: Sequence[int]) -> int:
    """Mark pending deliveries as handed to the broker; enqueue them once the transaction commits.

    Deliveries already believed queued are skipped. First tries and manual replays go to the
    deliver queue, automatic retries to the retry queue. Returns how many were dispatched.
    """
    now = timezone.now()
    until = now + timedelta(seconds=webhooks_settings().dispatch_timeout)
    with transaction.atomic():
        rows = list(
            Delivery.objects.filter(id__in=list(delivery_ids), status=Delivery.Status.PENDING)
            .filter(Q(dispatched_until__isnull=True) | Q(dispatched_until__lt=now))
            .values_list("id", "attempt_count", "manual_requested", "endpoint_id")
        )
        if not rows:
            return 0
        if has_local():
            # The engine runs in this process: wake it, no message needed.
            endpoint_ids = {r[3] for r in rows}
            transaction.on_commit(lambda: wake_local(endpoint_ids))
            return len(rows)
        Delivery.objects.filter(id__in=[r[0] for r in rows]).update(dispatched_until=until)
        first = [r[0] for r in rows if r[1] == 0 or r[2]]
        retries = [r[0] for r in rows if not (r[1] == 0 or r[2])]

        def enqueue() -> None:
            deliveries_enqueue(delivery_ids=first)
            deliveries_enqueue(delivery_ids=retries, retry=True)

        transaction.on_commit(enqueue)
    return len(rows)


def ordered_release_and_dispatch(endpoint_ids: Iterable[str], *, now: datetime) -> list[int]:
    """``ordered_release``, then what it released is dispatched when the transaction commits."""
    released = ordered_release(endpoint_ids, now=now)
    if released:
        deliveries_dispatch(delivery_ids=released)
    return released


def fan_out_tenants_enqueue(*, event_ids: Sequence[str], tenant_ids: Sequence[int]) -> None:
    """Mark events as queued for fan-out; once the transaction commits, send one drain per
    tenant (``events_fan_out_pending`` takes each tenant's waiting events in bulk)."""
    until = timezone.now() + timedelta(seconds=webhooks_settings().dispatch_timeout)
    Event.objects.filter(id__in=list(event_ids)).update(fanout_dispatched_until=until)
    transaction.on_commit(lambda: fan_out_tenants_send(list(tenant_ids)))


def fan_out_tenants_send(tenant_ids: list[int]) -> None:
    _each_sent(TASK_FAN_OUT_TENANT, tenant_ids, what="tenant")


def fan_out_send(event_ids: list[str]) -> None:
    _each_sent(TASK_FAN_OUT, event_ids, what="event")


def _each_sent(task: str, keys: Sequence[Any], *, what: str) -> None:
    """One fan-out message per key; a broker that is down only delays: the database rows are
    the truth, and the sweeper sends them again."""
    for key in keys:
        try:
            task_send(task, key, queue=QUEUE_DELIVER)
        except Exception:  # noqa: BLE001
            logger.warning("broker unavailable; the sweeper will fan out %s %s", what, key)


# --- Batched fan-out ------------------------------------------------------------------------
# One broker message per published event caps a tenant's publishing rate at what Celery moves
# (a few hundred near-empty tasks a second here). On Redis, publishing instead raises a per-tenant
# flag; only the publish that raises it sends a message, and the task that answers it drops the
# flag, then fans out every event of the tenant still waiting, in bulk. An event committed before
# the flag is dropped is seen by that drain; one committed after raises the flag again. A lost
# message only delays: the flag expires, and the sweeper sends each tenant with overdue events
# one drain message.

FANOUT_FLAG_SECONDS = 30
_redis_client: Any = None
_redis_pid: int | None = None


def _redis() -> Any:
    """A Redis client on the broker's server, or None when the broker is not Redis."""
    global _redis_client, _redis_pid
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    if _redis_client is None or _redis_pid != os.getpid():
        import redis

        _redis_client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        _redis_pid = os.getpid()
    return _redis_client


def fanout_flag_key(tenant_id: int) -> str:
    return f"webhooks:fanout-pending:{tenant_id}"


def fan_out_signal(*, tenant_id: int, event_ids: Sequence[str]) -> None:
    """After a publish commits: make sure a fan-out of the tenant's waiting events is coming.

    On Redis the per-tenant flag makes it one message per burst. Elsewhere one event is fanned
    out by id, and a batch by one drain of the tenant's waiting events.
    """
    client = _redis()
    if client is None and len(event_ids) == 1:
        fan_out_send(list(event_ids))
        return
    try:
        if client is None or client.set(
            fanout_flag_key(tenant_id), "1", nx=True, ex=FANOUT_FLAG_SECONDS
        ):
            task_send(TASK_FAN_OUT_TENANT, tenant_id, queue=QUEUE_DELIVER)
    except Exception:  # noqa: BLE001  the event rows are the truth; the sweeper fans them out
        logger.warning("broker unavailable; the sweeper will fan out %d events", len(event_ids))


def fanout_flag_hold(tenant_id: int) -> None:
    """A drain still taking the tenant's stream keeps its flag from expiring under it."""
    client = _redis()
    if client is not None:
        client.expire(fanout_flag_key(tenant_id), FANOUT_FLAG_SECONDS)


def fanout_flag_clear(tenant_id: int) -> None:
    client = _redis()
    if client is not None:
        client.delete(fanout_flag_key(tenant_id))
