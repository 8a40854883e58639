"""The Celery app: ``celery -A webhooks_platform worker`` and ``celery -A webhooks_platform beat``.

Pool type and concurrency come from settings (``CELERY_WORKER_POOL``,
``CELERY_WORKER_CONCURRENCY``), so the same command line is right in development and production.
"""

import os

from celery import Celery
from kombu import Queue

from .sqlite_broker import register as register_sqlite_broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webhooks_platform.settings")

register_sqlite_broker()
app = Celery("webhooks_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")

# First attempts and retries travel on separate queues, so a backlog of retries to dead endpoints
# never sits in front of fresh events.
QUEUE_DELIVER = "webhooks.deliver"
QUEUE_RETRY = "webhooks.retry"
QUEUE_DEFAULT = "webhooks.default"

app.conf.task_default_queue = QUEUE_DEFAULT
app.conf.task_queues = [Queue(QUEUE_DELIVER), Queue(QUEUE_RETRY), Queue(QUEUE_DEFAULT)]
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule_sweep(sender: Celery, **kwargs: object) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        settings.WEBHOOKS_SWEEP_INTERVAL, sender.signature("deliveries.sweep"), name="sweep"
    )


@app.on_after_finalize.connect
def _schedule_purge(sender: Celery, **kwargs: object) -> None:
    """Retention runs hourly by default; each run is resumable, so a missed one costs nothing."""
    from webhooks_platform.conf import webhooks_settings

    interval = webhooks_settings().retention_interval
    if interval > 0:
        sender.add_periodic_task(interval, sender.signature("deliveries.purge"), name="purge")
