"""Request signatures: Standard Webhooks (https://www.standardwebhooks.com/) and the styles of
the senders receivers migrate from.

Pure functions, no Django. ``standard``: ``webhook-signature`` is a space-separated list of
``v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>``, one per live secret, where the key
is the base64-decoded part of a ``whsec_`` secret; ``svix`` is the same under ``svix-*`` names.
``github`` and ``stripe`` key the HMAC with the secret string itself, as their receivers'
libraries do with the secret they are given: ``X-Hub-Signature-256: sha256=<hex HMAC(body)>``
(the newest secret only: GitHub sends one), and ``Stripe-Signature: t=<ts>,v1=<hex
HMAC("{ts}.{body}")>``, one ``v1`` per live secret, over a body in Stripe's event shape (its
``id`` is the event id, so a receiver deduplicates on ``event.id``). ``twilio`` signs the URL
as Twilio does for its JSON webhooks: the URL sent carries ``bodySHA256=<hex SHA-256 of the
body>`` and ``X-Twilio-Signature`` is the base64 HMAC-SHA1 of that full URL, keyed with the
newest secret string (Twilio sends one). ``ed25519`` is Standard Webhooks'
asymmetric scheme: ``webhook-signature: v1a,<base64(Ed25519(key, "{id}.{timestamp}.{body}"))>``
signed with a ``whsk_`` key the platform keeps; the tenant sees only its ``whpk_`` public key,
so a receiver holds nothing that could forge a message.

What a secret or a signing key is, and making one, belong to the endpoint that owns it
(``endpoints.signing_secrets``); they are re-exported here for the signing code and its callers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from endpoints.signing_secrets import ED25519 as ED25519
from endpoints.signing_secrets import GITHUB as GITHUB
from endpoints.signing_secrets import PUBLIC_KEY_PREFIX as PUBLIC_KEY_PREFIX
from endpoints.signing_secrets import SECRET_DEFAULT_BYTES as SECRET_DEFAULT_BYTES
from endpoints.signing_secrets import SECRET_MAX_BYTES as SECRET_MAX_BYTES
from endpoints.signing_secrets import SECRET_MIN_BYTES as SECRET_MIN_BYTES
from endpoints.signing_secrets import SECRET_PREFIX as SECRET_PREFIX
from endpoints.signing_secrets import SIGNING_KEY_PREFIX as SIGNING_KEY_PREFIX
from endpoints.signing_secrets import STANDARD as STANDARD
from endpoints.signing_secrets import STRIPE as STRIPE
from endpoints.signing_secrets import STYLES as STYLES
from endpoints.signing_secrets import SVIX as SVIX
from endpoints.signing_secrets import TWILIO as TWILIO
from endpoints.signing_secrets import InvalidSecret as InvalidSecret
from endpoints.signing_secrets import is_signing_key as is_signing_key
from endpoints.signing_secrets import keys_for as keys_for
from endpoints.signing_secrets import private_key
from endpoints.signing_secrets import public_key as public_key
from endpoints.signing_secrets import secret_generate as secret_generate
from endpoints.signing_secrets import secret_key as secret_key
from endpoints.signing_secrets import signing_key_check as signing_key_check
from endpoints.signing_secrets import signing_key_generate as signing_key_generate

DEFAULT_TOLERANCE_SECONDS = 300
# Sent with every request of a test event (the envelope also says "test": true): a receiver can
# tell a test from a real event without parsing the body. Endpoints may not set it themselves.
TEST_HEADER = "x-webhook-test"
# The ``api_version`` of Stripe-style bodies: the event object's shape they follow.
STRIPE_API_VERSION = "2024-06-20"
TWILIO_BODY_PARAM = "bodySHA256"


class SignatureMismatch(ValueError):
    """A request whose signature or timestamp does not verify."""


def sign_ed25519(*, key: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1a,<base64>`` signature of ``{msg_id}.{timestamp}.{body}``."""
    signed = b"%s.%d.%s" % (msg_id.encode("utf-8"), timestamp, body)
    return "v1a," + base64.b64encode(private_key(key).sign(signed)).decode("ascii")


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


def twilio_url(url: str, body: bytes) -> str:
    """``url`` with ``bodySHA256=<hex SHA-256 of body>`` added to its query, as Twilio sends
    the URL of a JSON webhook."""
    parts = urlsplit(url)
    param = f"{TWILIO_BODY_PARAM}={hashlib.sha256(body).hexdigest()}"
    query = f"{parts.query}&{param}" if parts.query else param
    return urlunsplit(parts._replace(query=query))


def twilio_signature(*, secrets: Iterable[str], url: str) -> str:
    """``X-Twilio-Signature``: base64 HMAC-SHA1 of the full URL, with the newest secret."""
    newest = next(iter(secrets))
    digest = hmac.new(newest.encode("utf-8"), url.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def stripe_event_body(
    *, body: bytes, body_is_payload: bool, event_id: str, event_type: str, created: int
) -> bytes:
    """Stripe's event object around the event's payload: what ``stripe.Webhook.construct_event``
    returns to a receiver. Built only from what the event keeps, so every try, retry and replay
    of an event sends (and signs) the same bytes."""
    value = json.loads(body)
    event = {
        "id": event_id,
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": created,
        "data": {"object": value if body_is_payload else value["data"]},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    return json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a delivery request sends: the URL (the Twilio style adds to it), every header, and
    the exact body the signatures are over."""

    url: str
    headers: dict[str, str]
    body: bytes


def request_signed(
    *,
    url: str,
    custom: Mapping[str, str],
    secrets: Iterable[str],
    msg_id: str,
    timestamp: int,
    body: bytes,
    event_type: str,
    created: int,
    svix_format: bool = False,
    test: bool = False,
    style: str = STANDARD,
) -> SignedRequest:
    """A delivery request of ``style`` for an event whose stored body is ``body``: the body in
    the style's shape (Stripe's event object for ``stripe``; the stored bytes otherwise), the URL
    as sent and the headers signing them."""
    if style == STRIPE:
        body = stripe_event_body(
            body=body,
            body_is_payload=svix_format,
            event_id=msg_id,
            event_type=event_type,
            created=created,
        )
    elif style == TWILIO:
        url = twilio_url(url, body)
    headers = request_headers(
        custom=custom,
        secrets=secrets,
        msg_id=msg_id,
        timestamp=timestamp,
        body=body,
        svix_format=svix_format,
        test=test,
        style=style,
        event_type=event_type,
        url=url,
    )
    return SignedRequest(url=url, headers=headers, body=body)


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
    url: str = "",
) -> dict[str, str]:
    """Every header of a delivery request: the endpoint's own (already opened), the content
    type, the test mark of a test event, and the signature headers of the endpoint's ``style``
    (which win over the rest), with the live ``secrets`` of the kind it signs with
    (``keys_for``); ``url`` is the URL as sent (``twilio`` signs it). An event on the Svix
    format is signed under ``svix-*`` names where the style is ``standard``."""
    secrets = keys_for(style, secrets)
    out = dict(custom)
    out["content-type"] = "application/json"
    if test:
        out[TEST_HEADER] = "true"
    if style == GITHUB:
        out.update(github_headers(secrets=secrets, msg_id=msg_id, event_type=event_type, body=body))
    elif style == STRIPE:
        out["stripe-signature"] = stripe_header(secrets=secrets, timestamp=timestamp, body=body)
    elif style == TWILIO:
        out["x-twilio-signature"] = twilio_signature(secrets=secrets, url=url)
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
