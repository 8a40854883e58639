from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.workers import WorkerProcess, start_worker
from webhooks_platform.celery import app as celery_app


@pytest.fixture
def e2e_settings(settings):  # type: ignore[no-untyped-def]
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.5, 0.5, 0.5]
    settings.WEBHOOKS_RETRY_JITTER = 0
    settings.WEBHOOKS_ATTEMPT_TIMEOUT = 5
    # A queued message not acted on within a second counts as lost, so sweeps recover quickly.
    settings.WEBHOOKS_DISPATCH_TIMEOUT = 1
    settings.WEBHOOKS_FANOUT_GRACE = 0
    return settings


@pytest.fixture
def clean_broker(transactional_db) -> None:  # type: ignore[no-untyped-def]
    """Messages left by earlier tests refer to rows that no longer exist: drop them."""
    celery_app.control.purge()


@pytest.fixture
def worker(tmp_path, e2e_settings, clean_broker) -> Iterator[WorkerProcess]:  # type: ignore[no-untyped-def]
    proc = start_worker(tmp_path)
    yield proc
    proc.stop()
