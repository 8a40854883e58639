"""Request signatures: Standard Webhooks (https://www.standardwebhooks.com/) and the styles of
the senders receivers migrate from.

Pure functions, no Django. ``standard``: ``webhook-signature`` is a space-separated list of
``v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>``, one per live secret, where the key
is the base64-decoded part of a ``whsec_`` secret; ``svix`` is the same under ``svix-*`` names.
``github`` and ``stripe`` key the HMAC with the secret string itself, as their receivers'
libraries do with the secret they are given: ``X-Hub-Signature-256: sha256=<hex HMAC(body)>``
(the newest secret only: GitHub sends one), and ``Stripe-Signature: t=<ts>,v1=<hex
HMAC("{ts}.{body}")>``, one ``v1`` per live secret. ``ed25519`` is Standard Webhooks'
asymmetric scheme: ``webhook-signature: v1a,<base64(Ed25519(key, "{id}.{timestamp}.{body}"))>``
signed with a ``whsk_`` key the platform keeps; the tenant sees only its ``whpk_`` public key,
so a receiver holds nothing that could forge a message.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
SIGNING_KEY_PREFIX = "whsk_"  # an Ed25519 private key (its 32-byte seed), never shown
PUBLIC_KEY_PREFIX = "whpk_"  # its public key, what the tenant sees
ED25519_KEY_BYTES = 32
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
SECRET_DEFAULT_BYTES = 32
DEFAULT_TOLERANCE_SECONDS = 300
# Sent with every request of a test event (the envelope also says "test": true): a receiver can
# tell a test from a real event without parsing the body. Endpoints may not set it themselves.
TEST_HEADER = "x-webhook-test"
STANDARD, SVIX, GITHUB, STRIPE, ED25519 = "standard", "svix", "github", "stripe", "ed25519"
STYLES = (STANDARD, SVIX, GITHUB, STRIPE, ED25519)


class InvalidSecret(ValueError):
    """A string that is not a ``whsec_`` secret of 24 to 64 bytes."""


class SignatureMismatch(ValueError):
    """A request whose signature or timestamp does not verify."""


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
def _private_key(key: str) -> Ed25519PrivateKey:
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
    _private_key(key)


def public_key(key: str) -> str:
    """The ``whpk_`` public key of a ``whsk_`` signing key: what the tenant may see."""
    raw = _private_key(key).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def is_signing_key(secret: str) -> bool:
    return secret.startswith(SIGNING_KEY_PREFIX)


def keys_for(style: str, secrets: Iterable[str]) -> list[str]:
    """The live secrets ``style`` signs with: ``whsk_`` keys for ed25519, ``whsec_`` for the
    rest (an endpoint that changed style keeps the other kind until it expires)."""
    asymmetric = style == ED25519
    return [s for s in secrets if is_signing_key(s) == asymmetric]


def sign_ed25519(*, key: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1a,<base64>`` signature of ``{msg_id}.{timestamp}.{body}``."""
    signed = b"%s.%d.%s" % (msg_id.encode("utf-8"), timestamp, body)
    return "v1a," + base64.b64encode(_private_key(key).sign(signed)).decode("ascii")


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``{msg_id}.{timestamp}.{body}``."""
    signed = b"%s.%d.%s" % (msg_id.encode("utf-8"), timestamp, body)
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(*, secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per live secret, space separated
    (``v1a`` for a ``whsk_`` key, ``v1`` for a ``whsec_`` secret)."""
    return " ".join(
        sign_ed25519(key=s, msg_id=msg_id, timestamp=timestamp, body=body)
        if is_signing_key(s)
        else sign(secret=s, msg_id=msg_id, timestamp=timestamp, body=body)
        for s in secrets
    )


def headers(
    *,
    secrets: Iterable[str],
    msg_id: str,
    timestamp: int,
    body: bytes,
    prefix: str = "webhook",
) -> dict[str, str]:
    """The three signature headers; ``prefix="svix"`` names them ``svix-*`` as Svix does (same
    scheme and values, so Svix's and Standard Webhooks' verifiers accept them)."""
    return {
        f"{prefix}-id": msg_id,
        f"{prefix}-timestamp": str(timestamp),
        f"{prefix}-signature": signature_header(
            secrets=secrets, msg_id=msg_id, timestamp=timestamp, body=body
        ),
    }


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def github_headers(
    *, secrets: Iterable[str], msg_id: str, event_type: str, body: bytes
) -> dict[str, str]:
    """GitHub's: the newest secret's ``sha256=<hex>`` of the body, the event type and the id."""
    newest = next(iter(secrets))
    return {
        "x-hub-signature-256": "sha256=" + _hex_hmac(newest, body),
        "x-github-event": event_type,
        "x-github-delivery": msg_id,
    }


def stripe_header(*, secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    """``Stripe-Signature``: ``t=<timestamp>`` and one ``v1=<hex>`` per live secret."""
    signed = b"%d.%s" % (timestamp, body)
    return ",".join([f"t={timestamp}", *(f"v1={_hex_hmac(s, signed)}" for s in secrets)])


def request_headers(
    *,
    custom: Mapping[str, str],
    secrets: Iterable[str],
    msg_id: str,
    timestamp: int,
    body: bytes,
    svix_format: bool = False,
    test: bool = False,
    style: str = STANDARD,
    event_type: str = "",
) -> dict[str, str]:
    """Every header of a delivery request: the endpoint's own (already opened), the content
    type, the test mark of a test event, and the signature headers of the endpoint's ``style``
    (which win over the rest), with the live ``secrets`` of the kind it signs with
    (``keys_for``). An event on the Svix format is signed under ``svix-*`` names where the
    style is ``standard``."""
    secrets = keys_for(style, secrets)
    out = dict(custom)
    out["content-type"] = "application/json"
    if test:
        out[TEST_HEADER] = "true"
    if style == GITHUB:
        out.update(github_headers(secrets=secrets, msg_id=msg_id, event_type=event_type, body=body))
    elif style == STRIPE:
        out["stripe-signature"] = stripe_header(secrets=secrets, timestamp=timestamp, body=body)
    else:
        prefix = "svix" if style == SVIX or svix_format else "webhook"
        out.update(
            headers(secrets=secrets, msg_id=msg_id, timestamp=timestamp, body=body, prefix=prefix)
        )
    return out


def verify(
    *,
    secret: str,
    msg_id: str,
    timestamp: str,
    signature: str,
    body: bytes,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Raise ``SignatureMismatch`` unless one of the signatures matches and is recent: ``v1``
    for a ``whsec_`` secret, ``v1a`` for a ``whpk_`` public key."""
    try:
        ts = int(timestamp)
    except ValueError as exc:
        raise SignatureMismatch("webhook-timestamp is not an integer") from exc
    if abs(now - ts) > tolerance:
        raise SignatureMismatch("webhook-timestamp is outside the tolerance")
    if secret.startswith(PUBLIC_KEY_PREFIX):
        _verify_ed25519(secret, b"%s.%d.%s" % (msg_id.encode("utf-8"), ts, body), signature)
        return
    expected = sign(secret=secret, msg_id=msg_id, timestamp=ts, body=body)
    for candidate in signature.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate, expected):
            return
    raise SignatureMismatch("no v1 signature matches")


def public_key_parse(public: str) -> Ed25519PublicKey:
    """The key of a ``whpk_`` public key; ``InvalidSecret`` if it is not one."""
    try:
        if not public.startswith(PUBLIC_KEY_PREFIX):
            raise ValueError(public[:5])
        raw = base64.b64decode(public[len(PUBLIC_KEY_PREFIX) :], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise InvalidSecret("a public key is whpk_ followed by 32 bytes in base64") from exc


def _verify_ed25519(public: str, signed: bytes, signature: str) -> None:
    try:
        key = public_key_parse(public)
    except InvalidSecret as exc:
        raise SignatureMismatch(str(exc)) from exc
    for candidate in signature.split():
        version, _, value = candidate.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(value), signed)
        except (InvalidSignature, ValueError):
            continue
        return
    raise SignatureMismatch("no v1a signature matches")
