"""How many long polls may wait at once: per web process, and per API key across processes.

A poll that waits holds a web-server thread (gunicorn's gthread worker, as docker-compose and
``run_platform`` start it) for as long as it waits; unbounded, a few dozen polls of one key take
every thread and the platform stops answering, ``/healthz`` included. So waiting is bounded:

- at most ``WEBHOOKS_POLL_WAITS_PER_PROCESS`` polls wait in one process, counted in the process
  (each process protects its own threads; keep it at most half the server's ``--threads``);
- at most ``WEBHOOKS_POLL_WAITS_PER_KEY`` polls of one API key wait at once, counted in the
  cache as numbered slots that expire on their own shortly after the longest wait, so a process
  killed mid-wait does not keep its slot. With a cache per process (the default ``locmem``)
  the count is per process; with a shared one (Redis) it spans them.

A poll that finds no room is not refused: it answers at once with what is there. If the cache is
unreachable the per-key cap is skipped (logged) and the per-process cap still holds.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import uuid
from collections.abc import Iterator

from django.core.cache import cache

from platform_core.conf import webhooks_settings

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1  # told to a poll whose wait was cut short
SLOT_GRACE_SECONDS = 10  # a per-key slot outlives the wait it was taken for by this much

_lock = threading.Lock()
_waiting = 0  # polls waiting in this process


def _process_take(cap: int) -> bool:
    global _waiting
    with _lock:
        if _waiting >= cap:
            return False
        _waiting += 1
        return True


def _process_give_back() -> None:
    global _waiting
    with _lock:
        _waiting -= 1


def _key_take(key: str, cap: int, seconds: float, token: str) -> str | None:
    """The name of the slot taken, ``""`` when the cache failed (fail open), None when full."""
    timeout = math.ceil(seconds) + SLOT_GRACE_SECONDS
    try:
        for number in range(cap):
            name = f"pollwait:{key}:{number}"
            if cache.add(name, token, timeout=timeout):
                return name
    except Exception:  # the cache is down: the per-process cap still protects the threads
        logger.warning("poll waits: the cache is unreachable; per-key cap skipped", exc_info=True)
        return ""
    return None


def _key_give_back(name: str, token: str) -> None:
    try:
        if cache.get(name) == token:  # not a slot that expired and went to another poll
            cache.delete(name)
    except Exception:  # it expires on its own
        logger.warning("poll waits: could not free slot %s", name, exc_info=True)


@contextlib.contextmanager
def poll_wait_reserve(*, key: str, seconds: float) -> Iterator[bool]:
    """Room for one poll of API key ``key`` (its prefix; empty: no per-key count) to wait up to
    ``seconds``: yields True while it holds it, False when there is none (answer at once)."""
    ws = webhooks_settings()
    if not _process_take(ws.poll_waits_per_process):
        yield False
        return
    token = uuid.uuid4().hex
    slot = _key_take(key, ws.poll_waits_per_key, seconds, token) if key else ""
    if slot is None:
        _process_give_back()  # before answering: a refused poll holds no room
        yield False
        return
    try:
        yield True
    finally:
        if slot:
            _key_give_back(slot, token)
        _process_give_back()


def poll_waits_in_process() -> int:
    """Polls waiting in this process now."""
    return _waiting
