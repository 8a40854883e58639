"""What the engine knows of each endpoint: its settings, read once per claim round in one query,
and its decrypted secrets, kept per process and reloaded only when the newest secret changes.

``EndpointView`` is that knowledge as plain values (no model), for one claim round.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Q, Subquery

from endpoints import crypto, destinations
from endpoints.models import OPERATIONS_TENANT_SLUG, Endpoint, EndpointSecret, Transformation
from endpoints.services import headers_open
from platform_core.conf import Network, WebhooksSettings

from .health import CIRCUIT_OPEN

logger = logging.getLogger(__name__)


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
    # Its enabled transformation: (version, code) of the newest one; None: none runs.
    transformation: tuple[int, str] | None = None
    kind: str = "push"  # push, or a destination kind (deliveries.destinations)
    destination: dict[str, Any] = field(default_factory=dict)  # its options, secrets opened


class EndpointCache:
    """Endpoint settings per claim round, and decrypted secrets across rounds."""

    VIEW_SECONDS = 0.25

    def __init__(self) -> None:
        # endpoint id -> (newest secret id, [(secret, expires_at)] newest first)
        self._secrets: dict[str, tuple[int | None, list[tuple[str, datetime | None]]]] = {}
        # endpoint id -> (when read, its view or None when disabled or deleted)
        self._views: dict[str, tuple[float, EndpointView | None]] = {}
        # endpoint id -> until when it is left out: its secrets could not be decrypted
        self._unopenable: dict[str, float] = {}

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
                "transformation_enabled",
                "kind",
                "destination",
            )
        )
        stale = [
            r[0]
            for r in rows
            if (self._secrets.get(r[0], (None,))[0] != r[8] or r[8] is None)
            and not self._left_out(r[0])
        ]
        if stale:
            self._reload_secrets(stale, {r[0]: r[8] for r in rows}, now)
        scripts = _newest_transformations([r[0] for r in rows if r[13]])
        views: dict[str, EndpointView] = {}
        for row in rows:
            ep_id, url, headers, state, next_probe, rate, failing, failures = row[:8]
            slug, style, retry, ordered, transforms, kind, destination = row[9:]
            if self._left_out(ep_id):
                continue
            try:
                opened = headers_open(headers or {})
            except crypto.SecretDecryptionError:
                self._cannot_open(ep_id, "a sealed custom header")
                continue
            try:
                config = destinations.config_open(kind, destination or {})
            except crypto.SecretDecryptionError:
                self._cannot_open(ep_id, "a sealed destination option")
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
                transformation=scripts.get(ep_id) if transforms else None,
                kind=kind,
                destination=config,
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

    def _left_out(self, endpoint_id: str) -> bool:
        """Whether the endpoint is within its pause after its secrets could not be opened."""
        until = self._unopenable.get(endpoint_id)
        if until is not None and until <= time.monotonic():
            del self._unopenable[endpoint_id]
            return False
        return until is not None

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


def _newest_transformations(endpoint_ids: list[str]) -> dict[str, tuple[int, str]]:
    """Endpoint id -> (version, code) of its newest transformation (one query)."""
    if not endpoint_ids:
        return {}
    newest: dict[str, tuple[int, str]] = {}
    rows = (
        Transformation.objects.filter(endpoint_id__in=endpoint_ids)
        .order_by("endpoint_id", "-version")
        .values_list("endpoint_id", "version", "code")
    )
    for endpoint_id, version, code in rows:
        newest.setdefault(endpoint_id, (version, code))
    return newest
