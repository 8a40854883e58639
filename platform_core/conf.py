"""One accessor for the platform's own settings, with their defaults applied.

Everything in the platform reads ``webhooks_settings()`` rather than ``django.conf.settings``
directly, so a setting has one name, one type and one default.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class WebhooksSettings:
    retry_schedule: tuple[float, ...]
    retry_jitter: float
    retry_after_max: float
    attempt_timeout: float
    max_payload_bytes: int
    response_body_limit: int
    allowed_subnets: tuple[Network, ...]
    require_https: bool
    disable_after_failing_seconds: float
    secret_rotation_grace: int
    sweep_interval: float
    delivery_batch_size: int
    dispatch_timeout: float
    fanout_grace: float
    circuit_failure_threshold: int
    endpoint_concurrency: int
    sender_max_pending: int
    encryption_keys: tuple[str, ...]
    retention_days: float = 30
    payload_retention_days: float = 30
    retention_batch_size: int = 2000
    retention_interval: float = 3600
    metrics_token: str = ""
    ready_timeout: float = 2
    operational_webhook_urls: tuple[str, ...] = ()
    operational_webhook_secret: str = ""
    endpoint_concurrency_max: int = 128
    max_endpoints_per_tenant: int = 200
    api_rate_limit: int = 3000
    poll_rate_limit: int = 600
    poll_waits_per_process: int = 2
    poll_waits_per_key: int = 2
    filter_test_rate_limit: int = 20
    fanout_linger: float = 0.01
    operational_allowed_subnets: tuple[Network, ...] = ()
    dns_failure_ttl: float = 30
    poll_consumers_per_endpoint: int = 50
    transform_time_limit_ms: int = 50
    transform_memory_limit_mb: int = 32
    transform_processes: int = 2
    transform_test_rate_limit: int = 20

    def subnets_for(self, *, operations: bool) -> tuple[Network, ...]:
        """The ranges an endpoint may reach: the operators' endpoints add their own."""
        if operations:
            return self.allowed_subnets + self.operational_allowed_subnets
        return self.allowed_subnets

    @property
    def lease_seconds(self) -> float:
        """How long a claimed delivery stays ``sending`` before the sweeper takes it back.

        Long enough for the attempt to time out and be recorded, short enough that a killed
        worker's deliveries go out again within a minute or two.
        """
        return self.attempt_timeout * 2 + 30


def _networks(cidrs: Any) -> tuple[Network, ...]:
    return tuple(
        ipaddress.ip_network(str(cidr).strip(), strict=False) for cidr in cidrs if str(cidr).strip()
    )


# Read once per process: a publish, a fan-out and every engine turn ask for it, and building it
# costs more than the INSERT's own Python. Tests that change a setting (``override_settings``,
# pytest-django's ``settings``) send ``setting_changed``, which drops it.
_cached: WebhooksSettings | None = None


def webhooks_settings() -> WebhooksSettings:
    global _cached
    if _cached is None:
        _cached = _webhooks_settings_read()
    return _cached


@receiver(setting_changed)
def _settings_changed(*, setting: str, **_: Any) -> None:
    global _cached
    if setting.startswith("WEBHOOKS_"):
        _cached = None


def _webhooks_settings_read() -> WebhooksSettings:
    return WebhooksSettings(
        retry_schedule=tuple(float(s) for s in settings.WEBHOOKS_RETRY_SCHEDULE),
        retry_jitter=float(settings.WEBHOOKS_RETRY_JITTER),
        retry_after_max=float(settings.WEBHOOKS_RETRY_AFTER_MAX),
        attempt_timeout=float(settings.WEBHOOKS_ATTEMPT_TIMEOUT),
        max_payload_bytes=int(settings.WEBHOOKS_MAX_PAYLOAD_BYTES),
        response_body_limit=int(settings.WEBHOOKS_RESPONSE_BODY_LIMIT),
        allowed_subnets=_networks(settings.WEBHOOKS_ALLOWED_SUBNETS),
        operational_allowed_subnets=_networks(settings.WEBHOOKS_OPERATIONAL_ALLOWED_SUBNETS),
        dns_failure_ttl=float(settings.WEBHOOKS_DNS_FAILURE_TTL),
        require_https=bool(settings.WEBHOOKS_REQUIRE_HTTPS),
        disable_after_failing_seconds=float(settings.WEBHOOKS_DISABLE_AFTER_FAILING_DAYS) * 86400,
        secret_rotation_grace=int(settings.WEBHOOKS_SECRET_ROTATION_GRACE),
        sweep_interval=float(settings.WEBHOOKS_SWEEP_INTERVAL),
        delivery_batch_size=int(settings.WEBHOOKS_DELIVERY_BATCH_SIZE),
        dispatch_timeout=float(settings.WEBHOOKS_DISPATCH_TIMEOUT),
        fanout_grace=float(settings.WEBHOOKS_FANOUT_GRACE),
        circuit_failure_threshold=int(settings.WEBHOOKS_CIRCUIT_FAILURE_THRESHOLD),
        endpoint_concurrency=int(settings.WEBHOOKS_ENDPOINT_CONCURRENCY),
        sender_max_pending=int(settings.WEBHOOKS_SENDER_MAX_PENDING),
        encryption_keys=tuple(k for k in settings.WEBHOOKS_ENCRYPTION_KEYS if k),
        retention_days=float(settings.WEBHOOKS_RETENTION_DAYS),
        payload_retention_days=float(
            settings.WEBHOOKS_RETENTION_DAYS
            if settings.WEBHOOKS_PAYLOAD_RETENTION_DAYS in (None, "")
            else settings.WEBHOOKS_PAYLOAD_RETENTION_DAYS
        ),
        retention_batch_size=int(settings.WEBHOOKS_RETENTION_BATCH_SIZE),
        retention_interval=float(settings.WEBHOOKS_RETENTION_INTERVAL),
        metrics_token=str(settings.WEBHOOKS_METRICS_TOKEN or ""),
        ready_timeout=float(settings.WEBHOOKS_READY_TIMEOUT),
        operational_webhook_urls=tuple(
            str(u).strip() for u in settings.WEBHOOKS_OPERATIONAL_WEBHOOK_URLS if str(u).strip()
        ),
        operational_webhook_secret=str(settings.WEBHOOKS_OPERATIONAL_WEBHOOK_SECRET or ""),
        endpoint_concurrency_max=int(settings.WEBHOOKS_ENDPOINT_CONCURRENCY_MAX),
        max_endpoints_per_tenant=int(settings.WEBHOOKS_MAX_ENDPOINTS_PER_TENANT),
        api_rate_limit=int(settings.WEBHOOKS_API_RATE_LIMIT),
        poll_rate_limit=int(settings.WEBHOOKS_POLL_RATE_LIMIT),
        poll_waits_per_process=int(settings.WEBHOOKS_POLL_WAITS_PER_PROCESS),
        poll_waits_per_key=int(settings.WEBHOOKS_POLL_WAITS_PER_KEY),
        poll_consumers_per_endpoint=int(settings.WEBHOOKS_POLL_CONSUMERS_PER_ENDPOINT),
        filter_test_rate_limit=int(settings.WEBHOOKS_FILTER_TEST_RATE_LIMIT),
        fanout_linger=float(settings.WEBHOOKS_FANOUT_LINGER_MS) / 1000,
        transform_time_limit_ms=int(settings.WEBHOOKS_TRANSFORM_TIME_LIMIT_MS),
        transform_memory_limit_mb=int(settings.WEBHOOKS_TRANSFORM_MEMORY_LIMIT_MB),
        transform_processes=int(settings.WEBHOOKS_TRANSFORM_PROCESSES),
        transform_test_rate_limit=int(settings.WEBHOOKS_TRANSFORM_TEST_RATE_LIMIT),
    )
