"""The Celery entry point: ``celery -A webhooks_platform worker`` and ``celery -A
webhooks_platform beat`` find the app here. The app itself (queues, consumer, schedule) is
``platform_core.celery``, which the apps import to send tasks."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webhooks_platform.settings")

from platform_core.celery import app  # noqa: E402  (after the settings module)

__all__ = ["app"]
