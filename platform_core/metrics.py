"""Prometheus metrics: counters and histograms recorded where things happen, gauges read from the
database when /metrics is scraped.

Multiprocess mode: settings set ``PROMETHEUS_MULTIPROC_DIR`` before prometheus_client is first
imported, so every gunicorn worker and every Celery process writes its samples to its own file
there, and a scrape adds them up. Gauges are never kept in those files: they are computed from the
database at scrape time (``webhooks_platform.probes.DatabaseCollector``, which /metrics passes to
``render``), so they are right whichever process answers.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import datetime
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

PREFIX = "webhooks"

ATTEMPT_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60)
# From a fast first try to the end of the default retry schedule (~27.6 h).
LATENCY_BUCKETS = (
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
    900,
    1800,
    3600,
    7200,
    18000,
    36000,
    86400,
    129600,
)

_events_published = Counter(
    f"{PREFIX}_events_published",
    "Events published, by event type.",
    ["event_type"],
)
_attempts = Counter(
    f"{PREFIX}_attempts",
    "Delivery attempts, by outcome (success, http_error, no_response) and status class.",
    ["outcome", "status_class"],
)
_attempt_duration = Histogram(
    f"{PREFIX}_attempt_duration_seconds",
    "Duration of delivery attempts, from connecting to the end of the response.",
    buckets=ATTEMPT_DURATION_BUCKETS,
)
_deliveries_finished = Counter(
    f"{PREFIX}_deliveries_finished",
    "Deliveries that reached a final state, by outcome (succeeded, failed, cancelled).",
    ["outcome"],
)
_delivery_latency = Histogram(
    f"{PREFIX}_delivery_latency_seconds",
    "End-to-end latency of succeeded deliveries: event created to first successful attempt.",
    buckets=LATENCY_BUCKETS,
)
_filtered = Counter(
    f"{PREFIX}_fanout_filtered",
    "Endpoints an event skipped at fan-out by their payload filter, by reason (no_match, "
    "unevaluable: the filter could not be evaluated on the body, over_budget: its $regex work "
    "on the body would exceed the evaluation budget).",
    ["reason"],
)

_feed_dropped = Counter(
    f"{PREFIX}_feed_unread_dropped",
    "Feed items retention removed before a named consumer had read them (or before any read "
    "had seen them).",
)

_cache_unavailable = Counter(
    f"{PREFIX}_cache_unavailable",
    "Calls to the Django cache (CACHE_URL) that failed and were let through, by use "
    "(throttle: a request served without counting it against its key's rate limit).",
    ["use"],
)

DELIVERY_OUTCOMES = frozenset({"succeeded", "failed", "cancelled"})


def status_class(status: int) -> str:
    """``2xx`` ... ``5xx`` for an HTTP status, ``none`` when no response came back."""
    if 100 <= status <= 599:
        return f"{status // 100}xx"
    return "none"


def attempt_outcome(status: int) -> str:
    if 200 <= status < 300:
        return "success"
    if status > 0:
        return "http_error"
    return "no_response"


# --- Recording (called by the pipeline) -----------------------------------------------------
# Each function swallows its own errors: a full disk under the metrics folder must never fail a
# delivery.


def event_published(*, event_type: str) -> None:
    try:
        _events_published.labels(event_type=event_type).inc()
    except Exception:
        logger.exception("could not record a metric (event_published)")


def attempt_recorded(*, status: int, error: str, duration_ms: int) -> None:
    """One attempt; ``error`` is unused in labels on purpose (free text would explode series)."""
    try:
        _attempts.labels(outcome=attempt_outcome(status), status_class=status_class(status)).inc()
        _attempt_duration.observe(max(duration_ms, 0) / 1000)
    except Exception:
        logger.exception("could not record a metric (attempt_recorded)")


def delivery_finished(
    *, outcome: str, event_created_at: datetime | None, finished_at: datetime
) -> None:
    """A delivery reached ``outcome``; the latency is observed for successes only."""
    try:
        label = outcome if outcome in DELIVERY_OUTCOMES else "other"
        _deliveries_finished.labels(outcome=label).inc()
        if label == "succeeded" and event_created_at is not None:
            _delivery_latency.observe(max((finished_at - event_created_at).total_seconds(), 0.0))
    except Exception:
        logger.exception("could not record a metric (delivery_finished)")


def deliveries_cancelled(*, count: int) -> None:
    """``count`` deliveries cancelled at once (an endpoint disabled or deleted)."""
    if count <= 0:
        return
    try:
        _deliveries_finished.labels(outcome="cancelled").inc(count)
    except Exception:
        logger.exception("could not record a metric (deliveries_cancelled)")


# --- Scrape-time gauges ---------------------------------------------------------------------


def multiprocess_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def multiprocess_dir_reset() -> None:
    """Empty the samples folder; for a launcher to call before it starts its processes.

    Files of processes from an earlier run would otherwise be added to this run's counters.
    """
    folder = multiprocess_dir()
    if folder is None:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def render(*collectors: Collector) -> tuple[bytes, str]:
    """The exposition text of every process's samples plus ``collectors``' (the database
    gauges: ``webhooks_platform.probes.DatabaseCollector``)."""
    registry = CollectorRegistry(auto_describe=False)
    folder = multiprocess_dir()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        multiprocess.MultiProcessCollector(registry, path=str(folder))
    else:
        for metric in (
            _events_published,
            _attempts,
            _attempt_duration,
            _deliveries_finished,
            _delivery_latency,
            _filtered,
            _feed_dropped,
        ):
            registry.register(metric)
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def fanout_filtered(*, no_match: int, unevaluable: int, over_budget: int = 0) -> None:
    """Endpoints skipped by their payload filter in one fan-out batch."""
    try:
        if no_match:
            _filtered.labels(reason="no_match").inc(no_match)
        if unevaluable:
            _filtered.labels(reason="unevaluable").inc(unevaluable)
        if over_budget:
            _filtered.labels(reason="over_budget").inc(over_budget)
    except Exception:
        logger.exception("could not record a metric (fanout_filtered)")


def feed_unread_dropped(*, count: int) -> None:
    """Retention removed ``count`` feed items some consumer had not read."""
    if count <= 0:
        return
    try:
        _feed_dropped.inc(count)
    except Exception:
        logger.exception("could not record a metric (feed_unread_dropped)")


def cache_unavailable(*, use: str) -> None:
    """A cache call for ``use`` failed and the caller went on without it (fail open)."""
    try:
        _cache_unavailable.labels(use=use).inc()
    except Exception:
        logger.exception("could not record a metric (cache_unavailable)")
