"""Per-key request rate for both APIs: DRF's throttle interface (429 with ``Retry-After``), with
a fixed one-minute window counted by ``cache.incr`` instead of DRF's list of timestamps, which at
thousands of requests a minute would rewrite a list that long on every request.

The count lives in the cache (``CACHE_URL``). When the cache cannot be reached (Redis restarting)
the request goes through uncounted: a rate limit is not worth every API request failing. Each
such request adds to ``webhooks_cache_unavailable{use="throttle"}``, and a warning is logged at
most once a minute per process."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from platform_core import metrics
from platform_core.conf import webhooks_settings

logger = logging.getLogger(__name__)

WINDOW = 60
_warned_at = 0.0  # when the last "cache unreachable" warning was logged (monotonic)


def _count(counter: str) -> int | None:
    """The window's count after this request, None when the cache cannot be reached."""
    global _warned_at  # noqa: PLW0603  (one warning a minute for the whole process)
    try:
        cache.add(counter, 0, timeout=WINDOW * 2)
        try:
            return cache.incr(counter)
        except ValueError:  # evicted between add and incr
            cache.set(counter, 1, timeout=WINDOW * 2)
            return 1
    except Exception:
        metrics.cache_unavailable(use="throttle")
        if time.monotonic() - _warned_at >= WINDOW:
            _warned_at = time.monotonic()
            logger.warning(
                "API rate limit: the cache is unreachable; requests go through uncounted",
                exc_info=True,
            )
        return None


class ApiKeyThrottle(BaseThrottle):
    """At most ``WEBHOOKS_API_RATE_LIMIT`` requests a minute per API key."""

    _wait: float | None = None
    scope = "key"

    def limit(self) -> int:
        return webhooks_settings().api_rate_limit

    def allow_request(self, request: Request, view: Any) -> bool:
        limit = self.limit()
        api_key = getattr(request, "auth", None)
        key_id = getattr(api_key, "pk", None)
        if limit <= 0 or key_id is None:
            return True  # keyless requests are refused by the permissions anyway
        now = time.time()
        window = int(now // WINDOW)
        count = _count(f"throttle:{self.scope}:{key_id}:{window}")
        if count is None or count <= limit:
            return True
        self._wait = (window + 1) * WINDOW - now
        return False

    def wait(self) -> float | None:
        return self._wait


class PollThrottle(ApiKeyThrottle):
    """Feed reads, besides the API's own limit: at most ``WEBHOOKS_POLL_RATE_LIMIT`` a minute
    per API key (a consumer should long-poll with ``wait``, not loop)."""

    scope = "poll"

    def limit(self) -> int:
        return webhooks_settings().poll_rate_limit
