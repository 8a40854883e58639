"""Endpoint signing secrets: what a ``whsec_`` secret and a ``whsk_`` Ed25519 signing key are,
making new ones, checking a caller's own, and what the tenant may see of them (a ``whpk_``
public key). Endpoints own their secrets; ``deliveries.signing`` signs and verifies with them.

Pure functions, no Django.
"""

from __future__ import annotations

import base64
import functools
import secrets
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
SIGNING_KEY_PREFIX = "whsk_"  # an Ed25519 private key (its 32-byte seed), never shown
PUBLIC_KEY_PREFIX = "whpk_"  # its public key, what the tenant sees
ED25519_KEY_BYTES = 32
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
SECRET_DEFAULT_BYTES = 32
STANDARD, SVIX, GITHUB, STRIPE, ED25519 = "standard", "svix", "github", "stripe", "ed25519"
TWILIO = "twilio"
STYLES = (STANDARD, SVIX, GITHUB, STRIPE, TWILIO, ED25519)


class InvalidSecret(ValueError):
    """A string that is not a ``whsec_`` secret of 24 to 64 bytes."""


def secret_generate(num_bytes: int = SECRET_DEFAULT_BYTES) -> str:
    if not SECRET_MIN_BYTES <= num_bytes <= SECRET_MAX_BYTES:
        raise InvalidSecret(f"a secret has {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(num_bytes)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret(f"a signing secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError as exc:
        raise InvalidSecret("a signing secret is whsec_ followed by base64") from exc
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise InvalidSecret(
            f"a signing secret decodes to {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes"
        )
    return key


def signing_key_generate() -> str:
    """A new Ed25519 signing key, ``whsk_`` + base64 of its 32-byte seed."""
    return SIGNING_KEY_PREFIX + base64.b64encode(secrets.token_bytes(ED25519_KEY_BYTES)).decode()


@functools.lru_cache(maxsize=1024)
def private_key(key: str) -> Ed25519PrivateKey:
    if not key.startswith(SIGNING_KEY_PREFIX):
        raise InvalidSecret(f"an Ed25519 signing key starts with {SIGNING_KEY_PREFIX!r}")
    try:
        seed = base64.b64decode(key[len(SIGNING_KEY_PREFIX) :], validate=True)
    except ValueError as exc:
        raise InvalidSecret("an Ed25519 signing key is whsk_ followed by base64") from exc
    if len(seed) != ED25519_KEY_BYTES:
        raise InvalidSecret(f"an Ed25519 signing key decodes to {ED25519_KEY_BYTES} bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def signing_key_check(key: str) -> None:
    """Raise ``InvalidSecret`` unless ``key`` is a ``whsk_`` Ed25519 signing key."""
    private_key(key)


def public_key(key: str) -> str:
    """The ``whpk_`` public key of a ``whsk_`` signing key: what the tenant may see."""
    raw = private_key(key).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def is_signing_key(secret: str) -> bool:
    return secret.startswith(SIGNING_KEY_PREFIX)


def keys_for(style: str, secrets: Iterable[str]) -> list[str]:
    """The live secrets ``style`` signs with: ``whsk_`` keys for ed25519, ``whsec_`` for the
    rest (an endpoint that changed style keeps the other kind until it expires)."""
    asymmetric = style == ED25519
    return [s for s in secrets if is_signing_key(s) == asymmetric]
