"""What each endpoint may send now, decided before anything is claimed.

- ``Window``: how many requests an endpoint may have in flight from this process, following how
  it answers (grown while its latency holds, cut when latency degrades or failures come back).
- The circuit breaker: an open circuit lets one probe through when it is due, and manual tries
  (a person's replay, test event or recover) at once.
- The rate limit: a GCRA reservation on the endpoint row, shared by every worker.
- ``EndpointCache``: endpoint settings read once per claim round in one query; decrypted secrets
  kept per process and reloaded only when the endpoint's newest secret changes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery

from endpoints import crypto
from endpoints.models import OPERATIONS_TENANT_SLUG, Endpoint, EndpointSecret
from endpoints.services import headers_open
from webhooks_platform.conf import Network, WebhooksSettings

from .claim import Want
from .health import CIRCUIT_OPEN

logger = logging.getLogger(__name__)


class Window:
    """An endpoint's concurrency limit: in flight ≈ its rate × its latency.

    Starts at ``initial`` and grows by one per answer (slow start) until the first sign of
    congestion, then by one per window's worth of answers. A failure (no response, 5xx, 429)
    halves it, a latency above twice the best seen plus ``SLACK_SECONDS`` takes a tenth off,
    each at most once per round trip. Never below 1 or above ``maximum``.

    The slack is what the sender itself adds: a latency is measured around the whole request in
    a Python event loop that serves every request of the process, so with a hundred in flight
    each one also waits for the loop to serve the others (to a receiver on the same machine that
    answers in under a millisecond: 4 ms at the median, 57 ms at p99 with ~60 in flight). With
    5 ms of slack, that self-made delay read as a congested receiver and held a fast endpoint's
    window near 60; a receiver's own slow-down shows well beyond it, and its failures (5xx,
    429, timeouts) still halve the window at once.
    """

    SLACK_SECONDS = 0.05
    MIN_RTT_DRIFT = 0.001  # the best latency seen creeps up, so a changed path is relearned

    __slots__ = ("limit", "maximum", "min_rtt", "slow_start", "last_cut")

    def __init__(self, *, initial: int, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = float(min(max(1, initial), self.maximum))
        self.min_rtt: float | None = None
        self.slow_start = True
        self.last_cut = -math.inf

    @property
    def size(self) -> int:
        return max(1, int(self.limit))

    def observe(self, *, seconds: float, status: int, now: float) -> None:
        if self.min_rtt is None or seconds < self.min_rtt:
            self.min_rtt = seconds
        else:
            self.min_rtt += self.MIN_RTT_DRIFT * (seconds - self.min_rtt)
        failed = status == 0 or status >= 500 or status == 429
        congested = seconds > 2 * self.min_rtt + self.SLACK_SECONDS
        if failed or congested:
            if now - self.last_cut >= max(seconds, 0.01):
                self.limit = max(1.0, self.limit * (0.5 if failed else 0.9))
                self.slow_start = False
                self.last_cut = now
            return
        step = 1.0 if self.slow_start else 1.0 / self.limit
        self.limit = min(float(self.maximum), self.limit + step)


@dataclass
class EndpointView:
    """What the engine needs of an endpoint for one claim round (plain values, no model)."""

    id: str
    url: str
    headers: dict[str, str]
    circuit_open: bool
    probe_due: bool
    next_probe_at: datetime | None
    rate_limit: int | None
    had_failures: bool  # failures on record or an open circuit: a success must reset them
    secrets: list[str] = field(default_factory=list)
    signature_style: str = "standard"
    retry_schedule: tuple[float, ...] | None = None  # its own; None: the event type's or platform's
    ordered: bool = False  # one delivery at a time, in publish order (deliveries.ordering)
    # An operators' endpoint (operational webhooks) reaches its own ranges too; None: the
    # platform's allow-list, as for every tenant's endpoint.
    allowed_subnets: tuple[Network, ...] | None = None


class _Expiring(dict[str, float]):
    """Keys that count as present until their monotonic deadline passes."""

    def __contains__(self, key: object) -> bool:
        deadline = self.get(key)  # type: ignore[call-overload]
        if deadline is None:
            return False
        if deadline <= time.monotonic():
            self.pop(key)  # type: ignore[call-overload]
            return False
        return True


class EndpointCache:
    """Endpoint settings per claim round, and decrypted secrets across rounds."""

    VIEW_SECONDS = 0.25

    def __init__(self) -> None:
        # endpoint id -> (newest secret id, [(secret, expires_at)] newest first)
        self._secrets: dict[str, tuple[int | None, list[tuple[str, datetime | None]]]] = {}
        # endpoint id -> (when read, its view or None when disabled or deleted)
        self._views: dict[str, tuple[float, EndpointView | None]] = {}
        # endpoint id -> until when it is left out: its secrets could not be decrypted
        self._unopenable: _Expiring = _Expiring()

    def load(
        self, endpoint_ids: list[str], now: datetime, ws: WebhooksSettings
    ) -> dict[str, EndpointView]:
        """The enabled, live endpoints among ``endpoint_ids``, as read within the last
        ``VIEW_SECONDS`` (this process's own health writes drop them sooner: ``forget_views``)."""
        clock = time.monotonic()
        stale = [
            e
            for e in endpoint_ids
            if clock - self._views.get(e, (-1e9, None))[0] > self.VIEW_SECONDS
        ]
        if stale:
            fresh = self._read(stale, now, ws)
            for endpoint_id in stale:
                self._views[endpoint_id] = (clock, fresh.get(endpoint_id))
            if len(self._views) > 50_000:
                self._views.clear()
        views = {}
        for endpoint_id in endpoint_ids:
            view = self._views.get(endpoint_id, (0, None))[1]
            if view is not None:
                views[endpoint_id] = view
        return views

    def peek(self, endpoint_id: str) -> EndpointView | None:
        """The endpoint's view as last read, however old (None: never read, or not live)."""
        return self._views.get(endpoint_id, (0, None))[1]

    def forget_views(self, endpoint_ids: Iterable[str]) -> None:
        for endpoint_id in endpoint_ids:
            self._views.pop(endpoint_id, None)

    def _read(
        self, endpoint_ids: list[str], now: datetime, ws: WebhooksSettings
    ) -> dict[str, EndpointView]:
        """One query for the endpoints, plus one for secrets whose version changed."""
        newest = EndpointSecret.objects.filter(endpoint_id=OuterRef("pk")).order_by("-id")
        rows = list(
            Endpoint.objects.filter(id__in=endpoint_ids, enabled=True, deleted_at__isnull=True)
            .annotate(secret_version=Subquery(newest.values("id")[:1]))
            .values_list(
                "id",
                "url",
                "headers",
                "circuit_state",
                "circuit_next_probe_at",
                "rate_limit",
                "failing_since",
                "consecutive_failures",
                "secret_version",
                "tenant__slug",
                "signature_style",
                "retry_schedule",
                "ordered",
            )
        )
        stale = [
            r[0]
            for r in rows
            if (self._secrets.get(r[0], (None,))[0] != r[8] or r[8] is None)
            and r[0] not in self._unopenable
        ]
        if stale:
            self._reload_secrets(stale, {r[0]: r[8] for r in rows}, now)
        views: dict[str, EndpointView] = {}
        for row in rows:
            ep_id, url, headers, state, next_probe, rate, failing, failures = row[:8]
            slug, style, retry, ordered = row[9:]
            if ep_id in self._unopenable:
                continue
            try:
                opened = headers_open(headers or {})
            except crypto.SecretDecryptionError:
                self._cannot_open(ep_id, "a sealed custom header")
                continue
            is_open = state == CIRCUIT_OPEN
            views[ep_id] = EndpointView(
                id=ep_id,
                url=url,
                headers=opened,
                circuit_open=is_open,
                probe_due=is_open and (next_probe is None or next_probe <= now),
                next_probe_at=next_probe if is_open else None,
                rate_limit=rate or None,
                had_failures=is_open or failing is not None or bool(failures),
                secrets=[
                    s
                    for s, exp in self._secrets.get(ep_id, (None, []))[1]
                    if exp is None or exp > now
                ],
                allowed_subnets=(
                    ws.subnets_for(operations=True) if slug == OPERATIONS_TENANT_SLUG else None
                ),
                signature_style=style,
                retry_schedule=None if retry is None else tuple(float(d) for d in retry),
                ordered=ordered,
            )
        return views

    def _reload_secrets(
        self, endpoint_ids: list[str], versions: dict[str, int | None], now: datetime
    ) -> None:
        loaded: dict[str, list[tuple[str, datetime | None]]] = {e: [] for e in endpoint_ids}
        rows = (
            EndpointSecret.objects.filter(endpoint_id__in=endpoint_ids)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .order_by("endpoint_id", "-created_at", "-id")
            .values_list("endpoint_id", "encrypted", "expires_at")
        )
        broken: set[str] = set()
        for endpoint_id, encrypted, expires_at in rows:
            try:
                loaded[endpoint_id].append((crypto.decrypt(encrypted), expires_at))
            except crypto.SecretDecryptionError:
                broken.add(endpoint_id)
        for endpoint_id in broken:
            self._cannot_open(endpoint_id, "its signing secret")
            loaded.pop(endpoint_id)
        for endpoint_id, secrets in loaded.items():
            self._secrets[endpoint_id] = (versions.get(endpoint_id), secrets)

    UNOPENABLE_SECONDS = 30.0

    def _cannot_open(self, endpoint_id: str, what: str) -> None:
        """An endpoint whose secrets none of the configured keys opens (a lost encryption key)
        sends nothing for a while; its deliveries wait, untried, and every other endpoint goes
        on. Said once per pause, never with the ciphertext."""
        self._unopenable[endpoint_id] = time.monotonic() + self.UNOPENABLE_SECONDS
        logger.error(
            "cannot decrypt %s of endpoint %s with WEBHOOKS_ENCRYPTION_KEYS; its deliveries "
            "wait until a key that opens it is configured",
            what,
            endpoint_id,
        )


def want_for(
    view: EndpointView, *, free: int, in_flight: int, now: datetime, ws: WebhooksSettings
) -> Want | None:
    """What to claim for an endpoint with ``free`` slots: all of them while its circuit is
    closed; with it open, one probe when due (and none is out), else manual tries only."""
    if view.ordered:
        # Only its head is ever pending (and a person's replays): one request at a time.
        free = min(free, 1 - in_flight)
    if free <= 0:
        return None
    if not view.circuit_open:
        return Want(view.id, free)
    if view.probe_due and not in_flight:
        probe_at = probe_take(view.id, now, ws)
        if probe_at is not None:
            return Want(view.id, 1, probe_at=probe_at)
    return Want(view.id, free, manual_only=True)


def probe_take(endpoint_id: str, now: datetime, ws: WebhooksSettings) -> datetime | None:
    """Let one probe through an open circuit: when it goes out (``circuit_probe_at``, which its
    result is recorded against), or None if it is not due or another worker took it. Pushes the
    next probe past this one's lease, so a lost probe is followed by another."""
    taken = Endpoint.objects.filter(
        pk=endpoint_id, circuit_state=CIRCUIT_OPEN, circuit_next_probe_at__lte=now
    ).update(circuit_next_probe_at=now + timedelta(seconds=ws.lease_seconds), circuit_probe_at=now)
    return now if taken else None


def probe_return(endpoint_id: str, probe_at: datetime, now: datetime) -> None:
    """A probe taken that found nothing to send: due again now, not after its lease."""
    Endpoint.objects.filter(
        pk=endpoint_id, circuit_state=CIRCUIT_OPEN, circuit_probe_at=probe_at
    ).update(circuit_next_probe_at=now, circuit_probe_at=None)


def rate_reserve(
    endpoint_id: str, rate_limit: int, wanted: int, now: datetime
) -> tuple[int, datetime, float]:
    """GCRA over ``Endpoint.rate_limit_tat``: how many of ``wanted`` may go now.

    Allows a burst of one second's worth. The row lock makes it correct across every worker on
    every machine, on PostgreSQL and on SQLite (whose write transactions are serialised).
    Returns (granted, when the next slot frees, seconds per slot).
    """
    interval = 1.0 / rate_limit
    with transaction.atomic():
        row = Endpoint.objects.select_for_update().only("rate_limit_tat").get(pk=endpoint_id)
        tat = max(row.rate_limit_tat or now, now)
        room = (now + timedelta(seconds=1) - tat).total_seconds()
        granted = max(0, min(wanted, math.floor(room / interval + 1e-9)))
        tat = tat + timedelta(seconds=granted * interval)
        Endpoint.objects.filter(pk=endpoint_id).update(rate_limit_tat=tat)
    return granted, tat, interval


def rate_refund(endpoint_id: str, rate_limit: int, unused: int, now: datetime) -> None:
    """Give back reserved slots that found nothing to send (never below ``now``)."""
    if unused <= 0:
        return
    back = timedelta(seconds=unused / rate_limit)
    with transaction.atomic():
        row = Endpoint.objects.select_for_update().only("rate_limit_tat").get(pk=endpoint_id)
        if row.rate_limit_tat is None:
            return
        Endpoint.objects.filter(pk=endpoint_id).update(
            rate_limit_tat=max(row.rate_limit_tat - back, now)
        )
