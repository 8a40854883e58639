"""The Celery app, started as ``celery -A webhooks_platform worker`` and ``celery -A
webhooks_platform beat`` (``webhooks_platform.celery`` sets the settings module and exposes it).

Pool type and concurrency come from settings (``CELERY_WORKER_POOL``,
``CELERY_WORKER_CONCURRENCY``), so the same command line is right in development and production.
"""

import logging
from typing import Any

from celery import Celery
from celery.worker.consumer import Consumer as CeleryConsumer
from kombu import Queue

from .sqlite_broker import register as register_sqlite_broker

logger = logging.getLogger(__name__)

register_sqlite_broker()
app = Celery("webhooks_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.worker_consumer = "platform_core.celery:Consumer"


class Consumer(CeleryConsumer):
    """Celery's consumer, made to ride out a broker restart.

    What ended workers when Redis restarted (``Unrecoverable error: AttributeError("'NoneType'
    object has no attribute 'hostname'")``): after a connection loss the consumer collects the
    dead connection, and anything that then touches one of its channels through kombu's Redis
    transport raises that AttributeError, which is not among the connection errors Celery and
    kombu ignore. Two paths did: a late ack of a message received before the loss (hence
    ``task_acks_late`` is off in settings), and closing the channel while it still held
    unacknowledged messages, which is caught here: logged, then the consumer reconnects as after
    any connection loss. It happened only with a message in hand at the moment of the loss,
    hence "half the runs". The database, not the broker, is the truth: the sweeper re-sends
    what a lost message left undone.

    Gossip, mingle and the worker heartbeat are off: the platform uses none of them (no task
    events, no revokes to synchronise, no elections), and gossip's own restart failed the same
    way ("Error on restarting Gossip"). Remote control (``celery inspect``) is unaffected. They
    are switched off here, not with ``--without-...`` flags, because workers start with the
    plain ``celery -A webhooks_platform worker``.
    """

    def __init__(self, *args: Any, worker_options: dict[str, Any] | None = None, **kw: Any):
        options = dict(worker_options or {})
        options.update(without_gossip=True, without_mingle=True, without_heartbeat=True)
        super().__init__(*args, worker_options=options, **kw)

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError:
            logger.warning(
                "broker connection lost; its channel could not be closed cleanly, reconnecting",
                exc_info=True,
            )


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
    from platform_core.conf import webhooks_settings

    interval = webhooks_settings().retention_interval
    if interval > 0:
        sender.add_periodic_task(interval, sender.signature("deliveries.purge"), name="purge")
