"""The rules every write shares: header names and values, uids, metadata, channels, JSON that
can be stored, and the error for a taken name."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from platform_core.conf import webhooks_settings

from .. import payload_filter, retry_schedule, url_safety
from ..channels import InvalidChannels, channels_validate
from ..models import Endpoint, Tenant

MAX_ROTATION_GRACE_SECONDS = 7 * 86400
MAX_CUSTOM_HEADERS = 20
MAX_CUSTOM_HEADERS_BYTES = 8 * 1024
# Headers the platform sets itself, or that would change how the request is framed or routed.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "x-webhook-test",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "host",
        "user-agent",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "proxy-authorization",
        "proxy-connection",
        # The signature headers of the GitHub, Stripe and Twilio styles.
        "x-hub-signature-256",
        "x-github-event",
        "x-github-delivery",
        "stripe-signature",
        "x-twilio-signature",
    }
)


SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "proxy-authenticate",
        "www-authenticate",
        "cookie",
        "x-api-key",
        "x-auth-token",
        "api-key",
        "apikey",
    }
)
_SENSITIVE_PARTS = ("token", "secret", "password", "passwd", "api-key", "apikey", "credential")
# Whole words of a name (split at '-' and '_') that mark a credential: X-Auth, Private-Key,
# X-API_KEY, X-Session, X-Session-Id.
_SENSITIVE_WORDS = frozenset({"auth", "key", "session", "cookie", "private", "sig", "jwt"})
REDACTED = "[redacted]"


def is_sensitive_header(name: str) -> bool:
    """Headers that carry credentials: their values are never shown back nor stored in
    attempts (``Authorization``, ``X-Api-Key``, ``X-Auth``, ``Private-Key``, ``X-Session``,
    any ``…-Token``, ``…-Secret``…); ``_`` counts as ``-``."""
    lower = name.lower().replace("_", "-")
    return (
        lower in SENSITIVE_HEADERS
        or any(part in lower for part in _SENSITIVE_PARTS)
        or not _SENSITIVE_WORDS.isdisjoint(lower.split("-"))
    )


def headers_redacted(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with the values of credential headers replaced, as an attempt stores them."""
    return {k: (REDACTED if is_sensitive_header(k) else v) for k, v in headers.items()}


def is_platform_header(name: str) -> bool:
    """Headers the platform sets (or that frame the request); endpoints may not set them."""
    lower = name.lower()
    return lower in RESERVED_HEADERS or lower.startswith(("webhook-", "svix-"))


_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class AlreadyExists(ValidationError):  # noqa: N818  (a ValidationError, named for the case)
    """The name or uid is taken (the native API answers 400, the Svix-compatible one 409)."""


_UNSET: Any = object()
# The same marker for callers outside this package that pass arguments through.
UNSET: Any = _UNSET
_UID_RE = re.compile(r"^[a-zA-Z0-9_.\-]{1,256}$")
MAX_METADATA_BYTES = 8 * 1024


def uid_validate(uid: Any, *, field: str = "uid", reserved_prefix: str = "") -> str | None:
    """A caller's own key for an object: 1-256 letters, digits, '-', '_' or '.'; None for none.

    It may not start with the prefix of the platform's ids (``app_``, ``ep_``), so that a path
    segment can never mean both an id and a uid."""
    if uid is None:
        return None
    if not isinstance(uid, str) or not _UID_RE.match(uid):
        raise ValidationError({field: "Use 1-256 letters, digits, '-', '_' or '.'."})
    if reserved_prefix and uid.startswith(reserved_prefix):
        raise ValidationError({field: f"A uid may not start with {reserved_prefix!r}."})
    return uid


def json_storable(value: Any, field: str) -> Any:
    """``value`` unless it holds a string PostgreSQL's JSON cannot store: a NUL (``\\u0000``)
    or a lone UTF-16 surrogate (not text at all)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError({field: f"Not storable as JSON: {exc}"}) from exc
    except UnicodeEncodeError as exc:
        raise ValidationError(
            {field: "A string holds a lone UTF-16 surrogate (such as \\ud800), which is not text."}
        ) from exc
    if "\\u0000" in text:
        raise ValidationError({field: "A string holds a NUL character (\\u0000)."})
    return value


def metadata_validate(metadata: Any) -> dict[str, str]:
    """Free-form labels: an object of strings to strings, up to 8 KB."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ValidationError({"metadata": "Metadata is an object of strings to strings."})
    if sum(len(k) + len(v) for k, v in metadata.items()) > MAX_METADATA_BYTES:
        raise ValidationError({"metadata": f"Metadata is at most {MAX_METADATA_BYTES} bytes."})
    return json_storable(dict(metadata), "metadata")


def channels_validate_field(channels: Any) -> list[str]:
    try:
        return channels_validate(channels)
    except InvalidChannels as exc:
        raise ValidationError({"channels": str(exc)}) from exc


def _message_format_validate(value: Any) -> str:
    if value not in Tenant.MessageFormat.values:
        raise ValidationError(
            {"message_format": f"Use one of: {', '.join(Tenant.MessageFormat.values)}."}
        )
    return value


def endpoint_url_validate(url: str, *, operations: bool = False) -> str:
    """A URL an endpoint may have; ``operations``: one of the operators' own endpoints, which
    may also reach ``WEBHOOKS_OPERATIONAL_ALLOWED_SUBNETS``."""
    ws = webhooks_settings()
    url = (url or "").strip()
    try:
        url_safety.check_url(
            url, allowed=ws.subnets_for(operations=operations), require_https=ws.require_https
        )
    except url_safety.UnsafeURL as exc:
        raise ValidationError({"url": str(exc)}) from exc
    return url


MAX_RATE_LIMIT = 10_000


def payload_filter_validate(value: Any) -> dict[str, Any] | None:
    """A payload filter to store (``endpoints.payload_filter``); None or {} for none."""
    try:
        return payload_filter.filter_validate(value)
    except payload_filter.FilterError as exc:
        raise ValidationError({"filter": str(exc)}) from exc


def retry_schedule_validate(value: Any) -> list[float] | None:
    """A retry schedule to store (``endpoints.retry_schedule``): delays in seconds, [] for no
    retries, None to inherit."""
    try:
        return retry_schedule.schedule_validate(value)
    except retry_schedule.ScheduleError as exc:
        raise ValidationError({"retry_schedule": str(exc)}) from exc


def signature_style_validate(style: Any) -> str:
    """One of the signature styles (``Endpoint.SignatureStyle``)."""
    if style not in Endpoint.SignatureStyle.values:
        raise ValidationError(
            {
                "signature_style": "Give one of "
                + ", ".join(Endpoint.SignatureStyle.values)
                + f"; got {str(style)[:40]!r}."
            }
        )
    return style


def endpoint_rate_limit_validate(rate_limit: Any) -> int | None:
    """Deliveries per second, enforced across every worker; None means no limit."""
    if rate_limit is None:
        return None
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, int):
        raise ValidationError({"rate_limit": "Give a whole number of deliveries per second."})
    if not 1 <= rate_limit <= MAX_RATE_LIMIT:
        raise ValidationError(
            {"rate_limit": f"Give 1 to {MAX_RATE_LIMIT} deliveries per second, or null."}
        )
    return rate_limit


def endpoint_headers_validate(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ValidationError({"headers": "Headers are an object of header name to value."})
    if len(headers) > MAX_CUSTOM_HEADERS:
        raise ValidationError({"headers": f"At most {MAX_CUSTOM_HEADERS} custom headers."})
    clean: dict[str, str] = {}
    size = 0
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME_RE.match(name):
            raise ValidationError({"headers": f"{name!r} is not a valid header name."})
        lower = name.lower()
        if is_platform_header(lower):
            raise ValidationError(
                {"headers": f"{name!r} is set by the platform and cannot be overridden."}
            )
        if lower in {n.lower() for n in clean}:
            raise ValidationError({"headers": f"{name!r} is given twice."})
        if not isinstance(value, str):
            raise ValidationError({"headers": f"The value of {name!r} must be a string."})
        if any(c in value for c in "\r\n"):
            raise ValidationError({"headers": f"The value of {name!r} has a line break."})
        if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
            raise ValidationError(
                {"headers": f"The value of {name!r} has a control character (only tab is allowed)."}
            )
        if not value.isascii():
            # Sent as is, it would go out in whatever encoding the sender picks (latin-1 or
            # UTF-8), or not at all: encode it yourself (percent- or base64-encoding).
            raise ValidationError(
                {"headers": f"The value of {name!r} has non-ASCII characters; encode it first."}
            )
        size += len(name) + len(value)
        clean[name] = value
    if size > MAX_CUSTOM_HEADERS_BYTES:
        raise ValidationError(
            {
                "headers": f"Custom headers total {size} bytes; "
                f"the limit is {MAX_CUSTOM_HEADERS_BYTES}."
            }
        )
    return clean
