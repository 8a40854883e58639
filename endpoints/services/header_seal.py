"""Credential headers at rest: encrypted like signing secrets, and never shown back.

An endpoint's custom headers are stored as given, except the values of credential headers
(``Authorization``, ``X-Api-Key``, any ``…-Token``, ``…-Secret``: ``is_sensitive_header``),
which are stored sealed: ``sealed:v1:`` and a Fernet token under ``WEBHOOKS_ENCRYPTION_KEYS``
(``manage.py reencrypt_secrets`` moves them to the newest key with the secrets). Only the
senders open them. Pages and APIs show ``[redacted]`` in their place, and a form or a merge
that sends ``[redacted]`` (or the stored sealed value) back keeps what is stored.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from django.core.exceptions import ValidationError

from endpoints import crypto

from .rules import REDACTED, is_sensitive_header

SEALED_PREFIX = "sealed:v1:"


def is_sealed(value: str) -> bool:
    return value.startswith(SEALED_PREFIX)


def header_seal(value: str) -> str:
    return SEALED_PREFIX + crypto.encrypt(value)


@functools.lru_cache(maxsize=4096)
def _open(value: str) -> str:
    # Keyed by the sealed text: the same text always opens to the same value, whatever keys
    # are configured later.
    return crypto.decrypt(value.removeprefix(SEALED_PREFIX))


def headers_seal(headers: Mapping[str, str], stored: Mapping[str, str]) -> dict[str, str]:
    """What to store for validated ``headers`` given what is stored now: credential values
    sealed; ``[redacted]`` or the stored value itself keeps the stored value."""
    before = {name.lower(): value for name, value in stored.items()}
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not is_sensitive_header(name):
            out[name] = value
            continue
        kept = before.get(name.lower())
        if value == REDACTED or (kept is not None and value == kept):
            if kept is None:
                raise ValidationError(
                    {"headers": f"Give the value of {name!r}: no value is stored to keep."}
                )
            out[name] = kept if is_sealed(kept) else header_seal(kept)
        else:
            out[name] = header_seal(value)
    return out


def headers_open(stored: Mapping[str, str]) -> dict[str, str]:
    """The headers to send: sealed values opened (``crypto.SecretDecryptionError`` if no
    configured key opens one)."""
    return {name: _open(v) if is_sealed(v) else v for name, v in stored.items()}


def headers_reseal(stored: Mapping[str, str]) -> dict[str, str]:
    """``stored`` with every sealed value under the newest key (and any credential value
    stored before sealing existed, sealed)."""
    out: dict[str, str] = {}
    for name, value in stored.items():
        if is_sealed(value):
            out[name] = SEALED_PREFIX + crypto.rotate(value.removeprefix(SEALED_PREFIX))
        elif is_sensitive_header(name):
            out[name] = header_seal(value)
        else:
            out[name] = value
    return out
