"""Reads that may lag go to a read replica (``DATABASE_REPLICA_URL``); everything else stays on
the primary.

Only code that says so reads from the replica: the dashboard's delivery log, search, event,
delivery and attempt pages, the endpoint page's charts, and the support console's delivery list
run inside ``lagging_reads()``. Everything else — the engine's claims, fan-out, the sweeper,
every service's writes and the reads that decide them, the API, sign-in — never sees the
replica: the router answers "primary" unless a ``lagging_reads()`` block is active.

A request must see its own writes: once anything in the request is written (``db_for_write``),
inside a transaction, and for ``DATABASE_REPLICA_PIN_SECONDS`` after a request that wrote (an
unsafe method: the redirect that follows a replay or an edit), reads go to the primary. The pin
is a cookie; forging one only makes a browser read from the primary.

Pages read from the replica say how far behind it is when it lags
(``replica_lag_seconds``; the ``replica_notice`` context processor).

Routing the other way round (every read to the replica unless pinned), as
django-multidb-router does, would send the engine's and the services' reads there too: the
router is small, so it is written here instead.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse

REPLICA = "replica"
PIN_COOKIE = "wh_primary"


@dataclass
class _Reads:
    pinned: bool = False  # this request must read from the primary
    used: bool = False  # something was read from the replica


_reads: ContextVar[_Reads | None] = ContextVar("lagging_reads", default=None)
_wrote: ContextVar[bool] = ContextVar("request_wrote", default=False)


def configured() -> bool:
    return REPLICA in settings.DATABASES


class ReplicaRouter:
    """Primary for every write and for reads outside ``lagging_reads()``; the replica for the
    reads inside it, unless the request is pinned to the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        reads = _reads.get()
        if reads is None or reads.pinned or _wrote.get() or not configured():
            return None
        if transaction.get_connection("default").in_atomic_block:
            return None  # a transaction sees its own writes
        reads.used = True
        return REPLICA

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        _wrote.set(True)
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # the same rows, one copied from the other

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db != REPLICA


@contextlib.contextmanager
def lagging_reads(request: HttpRequest | None = None) -> Iterator[None]:
    """Reads in this block may come from the replica (when one is configured and ``request``
    is not pinned to the primary)."""
    if _reads.get() is not None:  # nested: the outer block decides
        yield
        return
    pinned = request is not None and getattr(request, "_read_primary", False)
    token = _reads.set(_Reads(pinned=pinned))
    try:
        yield
    finally:
        _reads.reset(token)


def reads_may_lag(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view whose reads (its rendering included) may come from the replica."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with lagging_reads(request):
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
            return response

    return wrapped


def replica_lag_seconds() -> float | None:
    """How far the replica's data is behind the primary's, in seconds: 0 when it has replayed
    everything it received, else the age of the last transaction it replayed. None without a
    replica, or when it cannot be asked."""
    if not configured():
        return None
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(
                "SELECT CASE WHEN NOT pg_is_in_recovery()"
                " OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
                " ELSE GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp()"
                " - pg_last_xact_replay_timestamp())) END"
            )
            row = cursor.fetchone()
    except Exception:  # noqa: BLE001  (a notice, never an error page)
        return None
    return None if row is None or row[0] is None else float(row[0])


def replica_notice(request: HttpRequest) -> dict[str, Any]:
    """Template context: ``replica_lag`` (seconds) when this page read from a replica that is at
    least ``DATABASE_REPLICA_LAG_NOTICE`` seconds behind. A view that reads from the replica in
    a block of its own calls this inside the block and adds it to its context."""
    reads = _reads.get()
    if reads is None or not reads.used:
        return {}
    lag = replica_lag_seconds()
    if lag is None or lag < settings.DATABASE_REPLICA_LAG_NOTICE:
        return {}
    return {"replica_lag": round(lag)}


class ReadYourWritesMiddleware:
    """A request pinned by a recent write reads the primary; a request that writes (or uses an
    unsafe method) pins the browser's next ones for ``DATABASE_REPLICA_PIN_SECONDS``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not configured():
            return self.get_response(request)
        try:
            until = float(request.COOKIES.get(PIN_COOKIE, "0"))
        except ValueError:
            until = 0.0
        request._read_primary = until > time.time()  # type: ignore[attr-defined]
        token = _wrote.set(False)
        try:
            response = self.get_response(request)
            wrote = _wrote.get() or request.method not in ("GET", "HEAD", "OPTIONS")
        finally:
            _wrote.reset(token)
        if wrote:
            pin = settings.DATABASE_REPLICA_PIN_SECONDS
            response.set_cookie(
                PIN_COOKIE,
                f"{time.time() + pin:.0f}",
                max_age=pin,
                httponly=True,
                samesite="Lax",
                secure=request.is_secure(),
            )
        return response
