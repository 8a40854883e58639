"""Per-key request rate for both APIs: DRF's throttle interface (429 with ``Retry-After``), with
a fixed one-minute window counted by ``cache.incr`` instead of DRF's list of timestamps, which at
thousands of requests a minute would rewrite a list that long on every request."""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from webhooks_platform.conf import webhooks_settings

WINDOW = 60


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
        counter = f"throttle:{self.scope}:{key_id}:{window}"
        cache.add(counter, 0, timeout=WINDOW * 2)
        try:
            count = cache.incr(counter)
        except ValueError:  # evicted between add and incr
            cache.set(counter, 1, timeout=WINDOW * 2)
            count = 1
        if count <= limit:
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
