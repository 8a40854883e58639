"""Destinations: endpoints of a kind other than ``push`` and ``poll`` (a Redis stream, a RabbitMQ
exchange, ...), each with a typed configuration.

This module is the registry and the rules every kind shares; a kind is one module in
``deliveries.destinations`` that describes its options (``Option``) and sends (its adapter), and
registers itself here. The packages of kinds are named by the setting
``WEBHOOKS_DESTINATION_PACKAGES`` and imported by name before the registry is first read (as
Django loads its apps), so ``endpoints`` validates and stores configurations without importing
``deliveries``.

Stored configurations keep secret options (passwords, keys) sealed like credential headers
(``sealed:v1:`` and a Fernet token under ``WEBHOOKS_ENCRYPTION_KEYS``): shown back as
``[redacted]``, opened only by the sender, rewritten by ``manage.py reencrypt_secrets``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from endpoints import crypto, url_safety

SEALED_PREFIX = "sealed:v1:"  # the same form as sealed credential headers
REDACTED = "[redacted]"
MAX_TEXT = 1024


class DestinationInvalid(ValueError):
    """A configuration that cannot be stored; ``field`` names the option at fault."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Option:
    """One option of a kind's configuration."""

    name: str
    type: type  # str, int or bool
    help: str
    required: bool = False
    default: Any = None
    secret: bool = False  # sealed at rest, never shown back
    minimum: int | None = None
    maximum: int | None = None


@dataclass
class Kind:
    """A destination kind: its options, the package it needs, and its adapter (an object the
    engine's sender calls; opaque here)."""

    name: str
    label: str
    options: tuple[Option, ...]
    package: str  # what to pip install when its library is missing ("" for none)
    module: str  # the library's import name, to tell whether it is installed
    # Further checks of a whole configuration (option values already typed); raises
    # DestinationInvalid. Returns what ``Endpoint.url`` shows (no credentials).
    check: Callable[[dict[str, Any]], str]
    # (host, port) the sender connects to, checked by the SSRF rules; None: the service's own.
    address: Callable[[dict[str, Any]], tuple[str, int] | None] = lambda config: None
    adapter: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def missing(self) -> str:
        """Why this kind cannot send here ("" when it can)."""
        if self.module and importlib.util.find_spec(self.module) is None:
            return (
                f"The {self.name} kind needs the {self.package!r} package, which is not "
                f"installed: pip install 'webhooks-platform[destinations]'."
            )
        return ""


_KINDS: dict[str, Kind] = {}
_loaded = False


def kind_register(kind: Kind) -> None:
    _KINDS[kind.name] = kind


def _load() -> None:
    """Import the packages of kinds named by ``WEBHOOKS_DESTINATION_PACKAGES`` (by name, as
    Django loads its apps), whose ``load_kinds`` registers every kind, before the first use."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from django.conf import settings

    for name in getattr(settings, "WEBHOOKS_DESTINATION_PACKAGES", ()):
        importlib.import_module(name).load_kinds()


def kinds() -> dict[str, Kind]:
    _load()
    return dict(_KINDS)


def kind_get(name: str) -> Kind | None:
    _load()
    return _KINDS.get(name)


def kind_choices() -> list[tuple[str, str]]:
    """Every endpoint kind: push, poll, then each registered destination (the model field's
    choices, so adding a kind needs no migration)."""
    _load()
    return [
        ("push", "Push (the platform POSTs to a URL)"),
        ("poll", "Poll (the consumer reads a feed)"),
        *((k.name, k.label) for k in sorted(_KINDS.values(), key=lambda k: k.name)),
    ]


def is_destination(kind: str) -> bool:
    return kind not in ("push", "poll")


# --- sealing ------------------------------------------------------------------------------------
def _seal(value: str) -> str:
    return SEALED_PREFIX + crypto.encrypt(value)


@functools.lru_cache(maxsize=4096)
def _open(value: str) -> str:
    return crypto.decrypt(value.removeprefix(SEALED_PREFIX))


def config_open(kind: str, stored: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration the sender uses: secret options opened (``crypto.SecretDecryptionError``
    if no configured key opens one)."""
    return {
        k: _open(v) if isinstance(v, str) and v.startswith(SEALED_PREFIX) else v
        for k, v in stored.items()
    }


def config_redacted(kind: str, stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The configuration as pages and APIs show it: secret options ``[redacted]``."""
    spec = kind_get(kind)
    secret = {o.name for o in spec.options if o.secret} if spec else set()
    return {
        k: REDACTED
        if (k in secret and v) or (isinstance(v, str) and v.startswith(SEALED_PREFIX))
        else v
        for k, v in (stored or {}).items()
    }


def config_reseal(stored: Mapping[str, Any]) -> dict[str, Any]:
    """``stored`` with every sealed value under the newest key."""
    return {
        k: (
            SEALED_PREFIX + crypto.rotate(v.removeprefix(SEALED_PREFIX))
            if isinstance(v, str) and v.startswith(SEALED_PREFIX)
            else v
        )
        for k, v in stored.items()
    }


# --- validation -----------------------------------------------------------------------------------
def _typed(option: Option, value: Any) -> Any:
    if option.type is bool:
        if not isinstance(value, bool):
            raise DestinationInvalid(option.name, "Give true or false.")
        return value
    if option.type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DestinationInvalid(option.name, "Give a whole number.")
        if option.minimum is not None and value < option.minimum:
            raise DestinationInvalid(option.name, f"Give at least {option.minimum}.")
        if option.maximum is not None and value > option.maximum:
            raise DestinationInvalid(option.name, f"Give at most {option.maximum}.")
        return value
    if not isinstance(value, str):
        raise DestinationInvalid(option.name, "Give a string.")
    if len(value) > MAX_TEXT:
        raise DestinationInvalid(option.name, f"Give at most {MAX_TEXT} characters.")
    if any(ord(c) < 0x20 for c in value):
        raise DestinationInvalid(option.name, "Control characters are not allowed.")
    return value


def destination_validate(
    kind: str,
    config: Any,
    *,
    stored: Mapping[str, Any] | None = None,
    allowed: Iterable[url_safety.Network],
) -> tuple[dict[str, Any], str]:
    """The configuration to store for ``kind`` (secret options sealed; ``[redacted]`` or an
    omitted secret keeps the stored one) and the URL the endpoint shows. Raises
    ``DestinationInvalid`` naming the option at fault."""
    spec = kind_get(kind)
    if spec is None:
        raise DestinationInvalid("kind", f"Unknown kind {kind!r}.")
    if missing := spec.missing():
        raise DestinationInvalid("kind", missing)
    if not isinstance(config, Mapping):
        raise DestinationInvalid("destination", "Give an object of the kind's options.")
    known = {o.name: o for o in spec.options}
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise DestinationInvalid(
            unknown[0],
            f"Unknown option(s) {', '.join(unknown)} for kind {kind}; it takes {', '.join(known)}.",
        )
    stored = stored or {}
    typed: dict[str, Any] = {}
    sealed: dict[str, Any] = {}
    for option in spec.options:
        value = config.get(option.name)
        if option.secret and (
            value is None or value == REDACTED or value == stored.get(option.name)
        ):
            kept = stored.get(option.name)
            if value == REDACTED and not kept:
                raise DestinationInvalid(option.name, "No value is stored to keep: give it.")
            if kept:
                typed[option.name] = config_open(kind, {option.name: kept})[option.name]
                sealed[option.name] = kept
                continue
        if value is None:
            if option.required:
                raise DestinationInvalid(option.name, "This option is required.")
            value = option.default
            if value is None:
                continue
        value = _typed(option, value)
        if option.required and option.type is str and not value.strip():
            raise DestinationInvalid(option.name, "This option is required.")
        typed[option.name] = value
        sealed[option.name] = _seal(value) if option.secret and value else value
    shown = spec.check(typed)
    address = spec.address(typed)
    if address is not None:
        host_check(address[0], address[1], allowed=allowed, field_name="url")
    return sealed, shown


def host_check(
    host: str, port: int, *, allowed: Iterable[url_safety.Network], field_name: str
) -> None:
    """The SSRF rules of a webhook URL, for a destination's host: refused when it is (or
    resolves to) a blocked address; a name that does not resolve yet is checked on each send."""
    try:
        literal = url_safety.parse_ip_literal(host)
        if literal is not None:
            url_safety.check_addresses(host, [literal], allowed)
            return
        try:
            addresses = url_safety.resolve(host, port)
        except (OSError, UnicodeError):
            return
        url_safety.check_addresses(host, addresses, allowed)
    except url_safety.UnsafeURL as exc:
        raise DestinationInvalid(field_name, str(exc)) from exc


def server_url(
    url: str, *, schemes: dict[str, int], field_name: str = "url"
) -> tuple[str, str, int, str, str]:
    """A broker URL's parts ``(scheme, host, port, user, path)``: one of ``schemes`` (scheme ->
    default port), no password in it (the password is its own, sealed option)."""
    if not url.strip():
        raise DestinationInvalid(field_name, "This option is required.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationInvalid(field_name, f"The URL is malformed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise DestinationInvalid(
            field_name, f"The URL scheme must be {' or '.join(sorted(schemes))}."
        )
    if parts.password is not None:
        raise DestinationInvalid(
            field_name,
            "Give the password in the password option (stored encrypted), not in the URL.",
        )
    host = (parts.hostname or "").strip("[]")
    if not host:
        raise DestinationInvalid(field_name, "The URL has no host.")
    if url_safety.parse_ip_literal(host) is None:
        try:
            url_safety.check_url_shape(f"http://{host}/", require_https=False)
        except url_safety.UnsafeURL as exc:
            raise DestinationInvalid(field_name, str(exc)) from exc
    if port == 0:
        raise DestinationInvalid(field_name, "The port must be between 1 and 65535.")
    return scheme, host, port or schemes[scheme], unquote(parts.username or ""), parts.path
