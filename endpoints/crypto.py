"""Encryption of signing secrets at rest (Fernet, with key rotation through MultiFernet).

``WEBHOOKS_ENCRYPTION_KEYS`` lists Fernet keys, newest first: the newest encrypts, all decrypt,
and ``manage.py reencrypt_secrets`` rewrites every stored secret under the newest key. With no
key configured, one is derived from ``SECRET_KEY`` so the embedded mode works out of the box.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from platform_core.conf import webhooks_settings


class SecretDecryptionError(RuntimeError):
    """A stored secret that none of the configured keys can decrypt."""


def _derived_key(secret_key: str) -> bytes:
    digest = hashlib.sha256(
        b"webhooks-platform/secret-encryption\x00" + secret_key.encode()
    ).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    material = [k.encode() for k in keys] or [_derived_key(secret_key)]
    return MultiFernet([Fernet(k) for k in material])


def _current() -> MultiFernet:
    return _fernet(webhooks_settings().encryption_keys, settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise SecretDecryptionError(
            "a signing secret cannot be decrypted with WEBHOOKS_ENCRYPTION_KEYS"
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the newest key."""
    return _current().rotate(token.encode("ascii")).decode("ascii")
