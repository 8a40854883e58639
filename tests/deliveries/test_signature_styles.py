"""Signature styles, each checked by the library its receivers already use, never by ours:
``standardwebhooks`` and ``svix`` (PyPI), ``stripe.Webhook.construct_event`` (PyPI),
``twilio``'s ``RequestValidator`` (PyPI), ``@octokit/webhooks-methods`` (npm, run by node) and,
for Ed25519 (``v1a``), ``cryptography``."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
import stripe
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from standardwebhooks import Webhook
from svix.webhooks import Webhook as SvixWebhook
from twilio.request_validator import RequestValidator

from deliveries import publish_event, signing
from deliveries.models import Attempt, Delivery
from deliveries.services.endpoint_lifecycle import endpoint_update
from deliveries.services.engines import engine_new
from deliveries.services.fanout import event_fan_out
from deliveries.services.lifecycle import delivery_replay
from endpoints.models import Endpoint
from endpoints.services import (
    endpoint_create,
    endpoint_secret_current,
    endpoint_secret_rotate,
    endpoint_secrets_live,
)
from tests.nodejs import node_json, node_ready

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def node() -> str:
    return node_ready()


def _headers(request) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {k.lower(): v for k, v in request.headers.items()}


def _github_verified(node: str, secret: str, requests: list) -> list[bool]:  # type: ignore[type-arg]
    return node_json(
        node,
        "verify_github.mjs",
        [
            {
                "secret": secret,
                "payload": r.body.decode("utf-8"),
                "signature": _headers(r)["x-hub-signature-256"],
            }
            for r in requests
        ],
    )


def _twilio_valid(receiver, request, secret: str) -> bool:  # type: ignore[no-untyped-def]
    """Twilio's own check of a JSON webhook: the signature of the full URL the receiver was
    called at, and ``bodySHA256`` in it matching the body."""
    url = f"{receiver.base_url}{request.path}?{request.query}"
    signature = _headers(request)["x-twilio-signature"]
    return RequestValidator(secret).validate(url, request.body.decode("utf-8"), signature)


def _v1a_verified(public_key: str, request) -> bool:  # type: ignore[no-untyped-def]
    """A ``v1a`` signature of the request verifies under ``public_key`` (``whpk_…``)."""
    key = Ed25519PublicKey.from_public_bytes(
        base64.b64decode(public_key.removeprefix("whpk_"), validate=True)
    )
    h = _headers(request)
    signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + request.body
    for candidate in h["webhook-signature"].split():
        version, _, value = candidate.partition(",")
        if version == "v1a":
            try:
                key.verify(base64.b64decode(value), signed)
            except InvalidSignature:
                continue
            return True
    return False


def _styled_endpoints(tenant, receiver) -> dict[str, tuple[Endpoint, str]]:  # type: ignore[no-untyped-def]
    return {
        style: endpoint_create(
            tenant=tenant, url=receiver.url(f"/ok/{style}"), signature_style=style
        )
        for style in Endpoint.SignatureStyle.values
    }


def _check_every_style(node, receiver, endpoints, event) -> None:  # type: ignore[no-untyped-def]
    standard = receiver.received("/ok/standard")
    svix = receiver.received("/ok/svix")
    github = receiver.received("/ok/github")
    stripe_style = receiver.received("/ok/stripe")
    ed25519 = receiver.received("/ok/ed25519")
    twilio = receiver.received("/ok/twilio")
    counts = [len(standard), len(svix), len(github), len(stripe_style), len(ed25519), len(twilio)]
    assert counts == [1] * 6

    secret = endpoints["standard"][1]
    assert Webhook(secret).verify(standard[0].body, standard[0].headers)["data"] == {"n": 1}

    svix_headers = _headers(svix[0])
    assert not any(h.startswith("webhook-") for h in svix_headers)
    SvixWebhook(endpoints["svix"][1]).verify(svix[0].body, svix_headers)
    assert svix_headers["svix-id"] == event.pk

    github_headers = _headers(github[0])
    assert _github_verified(node, endpoints["github"][1], github) == [True]
    assert _github_verified(node, endpoints["standard"][1], github) == [False]
    assert github_headers["x-github-event"] == "invoice.paid"
    assert github_headers["x-github-delivery"] == event.pk
    assert "webhook-signature" not in github_headers

    signature = _headers(stripe_style[0])["stripe-signature"]
    parsed = stripe.Webhook.construct_event(
        stripe_style[0].body.decode("utf-8"), signature, endpoints["stripe"][1]
    )
    assert parsed.id == event.pk  # what a Stripe receiver deduplicates on
    assert parsed.type == "invoice.paid"
    assert parsed.data.object.to_dict() == {"n": 1}
    assert parsed.created == int(event.created_at.timestamp())
    assert parsed.livemode is False
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            stripe_style[0].body.decode("utf-8"), signature, endpoints["standard"][1]
        )

    assert twilio[0].query == "bodySHA256=" + hashlib.sha256(twilio[0].body).hexdigest()
    assert _twilio_valid(receiver, twilio[0], endpoints["twilio"][1])
    assert not _twilio_valid(receiver, twilio[0], endpoints["standard"][1])
    assert not _twilio_valid(receiver, _tampered(twilio[0]), endpoints["twilio"][1])
    assert json.loads(twilio[0].body)["data"] == {"n": 1}

    public_key = endpoints["ed25519"][1]
    assert public_key.startswith("whpk_")
    assert _v1a_verified(public_key, ed25519[0])
    assert not _v1a_verified(public_key, _tampered(ed25519[0]))
    assert all(s.startswith("v1a,") for s in _headers(ed25519[0])["webhook-signature"].split())


def _tampered(request):  # type: ignore[no-untyped-def]
    body = request.body.replace(b"1", b"2")
    return type(request)(request.path, request.headers, body, 0, request.query)


def test_the_engine_signs_each_endpoint_in_its_style(node, tenant, invoice_paid, receiver):
    endpoints = _styled_endpoints(tenant, receiver)
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    event_fan_out(event_id=event.pk)

    engine_new().run_until_idle()

    _check_every_style(node, receiver, endpoints, event)
    # The attempt log shows the headers as sent, in the endpoint's style.
    logged = Attempt.objects.get(delivery__endpoint=endpoints["stripe"][0]).request_headers
    assert "stripe-signature" in {k.lower() for k in logged}
    # ... and the URL as sent: the Twilio style's carries bodySHA256.
    twilio_attempt = Attempt.objects.get(delivery__endpoint=endpoints["twilio"][0])
    (twilio_request,) = receiver.received("/ok/twilio")
    assert twilio_attempt.request_url == (f"{receiver.base_url}/ok/twilio?{twilio_request.query}")


def test_a_stripe_style_event_keeps_its_id_and_bytes_across_retries_and_replays(
    tenant, invoice_paid, receiver
):
    endpoint, secret = endpoint_create(
        tenant=tenant, url=receiver.url("/status/500"), signature_style="stripe"
    )
    event = publish_event(tenant, "invoice.paid", {"n": 1, "note": "Zoë"})
    event_fan_out(event_id=event.pk)
    delivery = Delivery.objects.get(event=event)

    engine_new().run_until_idle()  # the first try: 500
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    engine_new().run_until_idle()  # the retry: 500 again
    delivery_replay(delivery=Delivery.objects.get(pk=delivery.pk))
    engine_new().run_until_idle()  # a manual replay

    requests = receiver.received("/status/500")
    assert len(requests) == 3
    assert len({r.body for r in requests}) == 1  # the same bytes every try
    events = [
        stripe.Webhook.construct_event(
            r.body.decode("utf-8"), _headers(r)["stripe-signature"], secret
        )
        for r in requests
    ]
    assert {e.id for e in events} == {event.pk}
    assert events[0].data.object.to_dict() == {"n": 1, "note": "Zoë"}
    assert events[0].object == "event"
    assert events[0].api_version == signing.STRIPE_API_VERSION


def test_twilio_style_adds_body_sha256_to_a_url_with_a_query(tenant, invoice_paid, receiver):
    endpoint, secret = endpoint_create(
        tenant=tenant, url=receiver.url("/ok?account=ac_1"), signature_style="twilio"
    )
    new = endpoint_secret_rotate(endpoint=endpoint, grace_period_seconds=3600)
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    event_fan_out(event_id=event.pk)

    engine_new().run_until_idle()

    (request,) = receiver.received("/ok")
    assert request.query.startswith("account=ac_1&bodySHA256=")
    assert _twilio_valid(receiver, request, new)  # Twilio sends one signature: the newest
    assert not _twilio_valid(receiver, request, secret)


def test_stripe_style_signs_with_every_live_secret_while_one_rotates(
    tenant, invoice_paid, receiver
):
    endpoint, old = endpoint_create(
        tenant=tenant, url=receiver.url("/ok"), signature_style="stripe"
    )
    new = endpoint_secret_rotate(endpoint=endpoint, grace_period_seconds=3600)
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    event_fan_out(event_id=event.pk)

    engine_new().run_until_idle()

    (request,) = receiver.received()
    signature = _headers(request)["stripe-signature"]
    assert signature.count("v1=") == 2
    for secret in (old, new):  # a receiver on either secret accepts it
        stripe.Webhook.construct_event(request.body.decode("utf-8"), signature, secret)


def test_github_style_signs_with_the_newest_secret_only(node, tenant, invoice_paid, receiver):
    endpoint, old = endpoint_create(
        tenant=tenant, url=receiver.url("/ok"), signature_style="github"
    )
    new = endpoint_secret_rotate(endpoint=endpoint, grace_period_seconds=3600)
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    event_fan_out(event_id=event.pk)

    engine_new().run_until_idle()

    requests = receiver.received()
    assert _github_verified(node, new, requests) == [True]
    assert _github_verified(node, old, requests) == [False]


def test_a_timestamp_outside_stripes_tolerance_is_refused_by_stripe(tenant, invoice_paid):
    """Our t= is the send time, which Stripe's verifier checks: an old request is refused."""
    secret = "whsec_" + "a" * 32
    body = b'{"n": 1}'
    stale = signing.stripe_header(secrets=[secret], timestamp=int(time.time()) - 3600, body=body)
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(body.decode(), stale, secret)
    fresh = signing.stripe_header(secrets=[secret], timestamp=int(time.time()), body=body)
    assert stripe.Webhook.construct_event(body.decode(), fresh, secret)["n"] == 1


def test_an_unknown_style_is_refused_with_the_choices(tenant):
    with pytest.raises(ValidationError, match="standard, svix, github, stripe, twilio, ed25519"):
        endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x", signature_style="paypal")
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    with pytest.raises(ValidationError, match="signature_style"):
        endpoint_update(endpoint=endpoint, signature_style="")
    endpoint.refresh_from_db()
    assert endpoint.signature_style == "standard"


@pytest.mark.parametrize(
    "header", ["Stripe-Signature", "X-Hub-Signature-256", "X-GitHub-Event", "X-Twilio-Signature"]
)
def test_an_endpoint_may_not_set_a_styles_signature_header_itself(tenant, header):
    with pytest.raises(ValidationError, match="set by the platform"):
        endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x", headers={header: "forged"})


def test_create_endpoint_takes_a_signature_style(tenant, capsys):  # type: ignore[no-untyped-def]
    call_command(
        "create_endpoint",
        tenant.slug,
        "http://127.0.0.1:9/x",
        "--signature-style",
        "github",
        "--json",
    )
    out = json.loads(capsys.readouterr().out)
    assert out["signature_style"] == "github"
    assert Endpoint.objects.get(pk=out["id"]).signature_style == "github"


def test_an_ed25519_endpoint_shows_only_its_public_key_and_keeps_the_signing_key(tenant):
    endpoint, shown = endpoint_create(
        tenant=tenant, url="http://127.0.0.1:9/x", signature_style="ed25519"
    )

    (stored,) = endpoint_secrets_live(endpoint_ids=[endpoint.pk])[endpoint.pk]
    assert stored.startswith("whsk_")
    assert shown == signing.public_key(stored)
    assert endpoint_secret_current(endpoint=endpoint) == shown
    rotated = endpoint_secret_rotate(endpoint=endpoint)
    assert rotated.startswith("whpk_")
    assert rotated != shown
    with pytest.raises(ValidationError, match="whsk_"):
        endpoint_secret_rotate(endpoint=endpoint, secret="whsec_" + "A" * 40)


def test_rotating_an_ed25519_key_signs_with_both_through_the_grace_period(
    tenant, invoice_paid, receiver
):
    endpoint, old = endpoint_create(
        tenant=tenant, url=receiver.url("/ok"), signature_style="ed25519"
    )
    new = endpoint_secret_rotate(endpoint=endpoint, grace_period_seconds=3600)
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    event_fan_out(event_id=event.pk)

    engine_new().run_until_idle()

    (request,) = receiver.received()
    assert len(_headers(request)["webhook-signature"].split()) == 2
    assert _v1a_verified(old, request)
    assert _v1a_verified(new, request)


def test_switching_to_ed25519_and_back_makes_a_key_of_the_kind_each_style_needs(
    tenant, invoice_paid, receiver
):
    endpoint, hmac_secret = endpoint_create(tenant=tenant, url=receiver.url("/ok"))

    endpoint_update(endpoint=endpoint, signature_style="ed25519")
    public_key = endpoint_secret_current(endpoint=endpoint)
    first = publish_event(tenant, "invoice.paid", {"n": 1})
    event_fan_out(event_id=first.pk)
    engine_new().run_until_idle()
    endpoint_update(endpoint=endpoint, signature_style="standard")
    back = endpoint_secret_current(endpoint=endpoint)
    second = publish_event(tenant, "invoice.paid", {"n": 2})
    event_fan_out(event_id=second.pk)
    engine_new().run_until_idle()

    by_id = {_headers(r)["webhook-id"]: r for r in receiver.received()}
    assert public_key.startswith("whpk_")
    # Only the kind the style signs with: no v1 beside the v1a, though the old secret is live.
    assert _headers(by_id[first.pk])["webhook-signature"].startswith("v1a,")
    assert len(_headers(by_id[first.pk])["webhook-signature"].split()) == 1
    assert _v1a_verified(public_key, by_id[first.pk])
    assert back.startswith("whsec_")
    assert back != hmac_secret
    Webhook(back).verify(by_id[second.pk].body, by_id[second.pk].headers)
