"""System checks for the platform's settings: a bad value fails at start-up, not mid-delivery."""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register(deploy=True)
def check_production_settings(app_configs: Any, **kwargs: Any) -> list[Warning]:
    warnings: list[Warning] = []
    if settings.SECRET_KEY == settings.INSECURE_DEFAULT_SECRET_KEY:
        warnings.append(
            Warning(
                "SECRET_KEY is the embedded default; set SECRET_KEY in production.",
                id="webhooks.W001",
            )
        )
    allowed = [str(c).strip() for c in settings.WEBHOOKS_ALLOWED_SUBNETS if str(c).strip()]
    if allowed:
        warnings.append(
            Warning(
                f"WEBHOOKS_ALLOWED_SUBNETS opens {', '.join(allowed)} to every tenant's endpoints "
                "(SSRF); set it empty unless those receivers are meant to be reachable.",
                id="webhooks.W002",
            )
        )
    return warnings


@register()
def check_retired_settings(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Settings earlier releases read and this one ignores: say so instead of silently."""
    if os.environ.get("WEBHOOKS_ENGINE", "engine") != "engine":
        return [
            Warning(
                "WEBHOOKS_ENGINE is no longer read: the classic sender was retired and every "
                "worker runs the delivery engine. Remove the variable.",
                id="webhooks.W003",
            )
        ]
    return []


@register()
def check_webhooks_settings(app_configs: Any, **kwargs: Any) -> list[Error]:
    problems: list[Error] = []
    schedule = settings.WEBHOOKS_RETRY_SCHEDULE
    if any(float(s) < 0 for s in schedule):
        problems.append(Error("WEBHOOKS_RETRY_SCHEDULE has a negative delay.", id="webhooks.E001"))
    if not 0 <= float(settings.WEBHOOKS_RETRY_JITTER) < 1:
        problems.append(Error("WEBHOOKS_RETRY_JITTER must be in [0, 1).", id="webhooks.E002"))
    if float(settings.WEBHOOKS_ATTEMPT_TIMEOUT) <= 0:
        problems.append(Error("WEBHOOKS_ATTEMPT_TIMEOUT must be positive.", id="webhooks.E003"))
    if int(settings.WEBHOOKS_MAX_PAYLOAD_BYTES) <= 0:
        problems.append(Error("WEBHOOKS_MAX_PAYLOAD_BYTES must be positive.", id="webhooks.E004"))
    for name in ("WEBHOOKS_ALLOWED_SUBNETS", "WEBHOOKS_OPERATIONAL_ALLOWED_SUBNETS"):
        for cidr in getattr(settings, name):
            try:
                ipaddress.ip_network(str(cidr).strip(), strict=False)
            except ValueError:
                problems.append(Error(f"{name}: {cidr!r} is not a CIDR.", id="webhooks.E005"))
    if int(settings.WEBHOOKS_DELIVERY_BATCH_SIZE) < 1:
        problems.append(Error("WEBHOOKS_DELIVERY_BATCH_SIZE must be >= 1.", id="webhooks.E006"))
    if (
        not 1
        <= int(settings.WEBHOOKS_ENDPOINT_CONCURRENCY)
        <= int(settings.WEBHOOKS_ENDPOINT_CONCURRENCY_MAX)
    ):
        problems.append(
            Error(
                "WEBHOOKS_ENDPOINT_CONCURRENCY must be >= 1 and at most "
                "WEBHOOKS_ENDPOINT_CONCURRENCY_MAX.",
                id="webhooks.E008",
            )
        )
    for name in ("SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SAMESITE"):
        value = getattr(settings, name)
        if value not in ("Lax", "Strict", "None", False):
            problems.append(
                Error(f"{name} must be Lax, Strict or None; it is {value!r}.", id="webhooks.E020")
            )
        elif value == "None" and not getattr(settings, name.replace("SAMESITE", "SECURE")):
            problems.append(
                Error(
                    f"{name}=None needs {name.replace('SAMESITE', 'SECURE')}=true: browsers "
                    "drop such cookies otherwise, and nobody could sign in.",
                    id="webhooks.E021",
                )
            )
    return problems


@register()
def check_operations_settings(app_configs: Any, **kwargs: Any) -> list[Error]:
    from platform_core.conf import webhooks_settings

    problems: list[Error] = []
    ws = webhooks_settings()
    if ws.retention_days < 0 or ws.payload_retention_days < 0:
        problems.append(
            Error(
                "WEBHOOKS_RETENTION_DAYS and WEBHOOKS_PAYLOAD_RETENTION_DAYS must be >= 0.",
                id="webhooks.E010",
            )
        )
    if not 1 <= ws.transform_time_limit_ms <= 10_000 or ws.transform_memory_limit_mb < 4:
        problems.append(
            Error(
                "WEBHOOKS_TRANSFORM_TIME_LIMIT_MS must be 1-10000 and "
                "WEBHOOKS_TRANSFORM_MEMORY_LIMIT_MB at least 4.",
                id="webhooks.E040",
            )
        )
    if ws.transform_processes < 1:
        problems.append(Error("WEBHOOKS_TRANSFORM_PROCESSES must be >= 1.", id="webhooks.E041"))
    if ws.retention_batch_size < 1:
        problems.append(Error("WEBHOOKS_RETENTION_BATCH_SIZE must be >= 1.", id="webhooks.E011"))
    if ws.poll_waits_per_process < 0 or ws.poll_waits_per_key < 0:
        problems.append(
            Error(
                "WEBHOOKS_POLL_WAITS_PER_PROCESS and WEBHOOKS_POLL_WAITS_PER_KEY must be >= 0 "
                "(0: polls never wait).",
                id="webhooks.E030",
            )
        )
    if ws.poll_consumers_per_endpoint < 0:
        problems.append(
            Error(
                "WEBHOOKS_POLL_CONSUMERS_PER_ENDPOINT must be >= 0 (0: no cap).",
                id="webhooks.E031",
            )
        )
    if settings.LOG_FORMAT not in ("text", "json"):
        problems.append(Error("LOG_FORMAT must be 'text' or 'json'.", id="webhooks.E012"))
    if ws.operational_webhook_secret:
        from deliveries import signing

        try:
            signing.secret_key(ws.operational_webhook_secret)
        except signing.InvalidSecret as exc:
            problems.append(
                Error(f"WEBHOOKS_OPERATIONAL_WEBHOOK_SECRET: {exc}", id="webhooks.E013")
            )
    return problems
