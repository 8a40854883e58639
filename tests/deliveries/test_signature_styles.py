"""Signature styles, each checked by the library its receivers already use, never by ours:
``standardwebhooks`` and ``svix`` (PyPI), ``stripe.Webhook.construct_event`` (PyPI) and
``@octokit/webhooks-methods`` (npm, run by node)."""

from __future__ import annotations

import json
import time

import pytest
import stripe
from django.core.exceptions import ValidationError
from django.core.management import call_command
from standardwebhooks import Webhook
from svix.webhooks import Webhook as SvixWebhook

from deliveries import publish_event
from deliveries.engine.pump import Engine
from deliveries.models import Attempt, Delivery
from deliveries.services.fanout import event_fan_out
from deliveries.services.sending import deliveries_send
from endpoints.models import Endpoint
from endpoints.services import endpoint_create, endpoint_secret_rotate, endpoint_update
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
    assert [len(standard), len(svix), len(github), len(stripe_style)] == [1, 1, 1, 1]

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
    assert parsed["data"]["n"] == 1
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            stripe_style[0].body.decode("utf-8"), signature, endpoints["standard"][1]
        )


def test_the_engine_signs_each_endpoint_in_its_style(node, tenant, invoice_paid, receiver):
    endpoints = _styled_endpoints(tenant, receiver)
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    event_fan_out(event_id=event.pk)

    Engine().run_until_idle()

    _check_every_style(node, receiver, endpoints, event)
    # The attempt log shows the headers as sent, in the endpoint's style.
    logged = Attempt.objects.get(delivery__endpoint=endpoints["stripe"][0]).request_headers
    assert "stripe-signature" in {k.lower() for k in logged}


def test_the_classic_sender_signs_each_endpoint_in_its_style(node, tenant, invoice_paid, receiver):
    endpoints = _styled_endpoints(tenant, receiver)
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    event_fan_out(event_id=event.pk)

    deliveries_send(delivery_ids=list(Delivery.objects.values_list("pk", flat=True)))

    _check_every_style(node, receiver, endpoints, event)


def test_stripe_style_signs_with_every_live_secret_while_one_rotates(
    tenant, invoice_paid, receiver
):
    endpoint, old = endpoint_create(
        tenant=tenant, url=receiver.url("/ok"), signature_style="stripe"
    )
    new = endpoint_secret_rotate(endpoint=endpoint, grace_period_seconds=3600)
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    event_fan_out(event_id=event.pk)

    Engine().run_until_idle()

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

    Engine().run_until_idle()

    requests = receiver.received()
    assert _github_verified(node, new, requests) == [True]
    assert _github_verified(node, old, requests) == [False]


def test_a_timestamp_outside_stripes_tolerance_is_refused_by_stripe(tenant, invoice_paid):
    """Our t= is the send time, which Stripe's verifier checks: an old request is refused."""
    from deliveries import signing

    secret = "whsec_" + "a" * 32
    body = b'{"n": 1}'
    stale = signing.stripe_header(secrets=[secret], timestamp=int(time.time()) - 3600, body=body)
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(body.decode(), stale, secret)
    fresh = signing.stripe_header(secrets=[secret], timestamp=int(time.time()), body=body)
    assert stripe.Webhook.construct_event(body.decode(), fresh, secret)["n"] == 1


def test_an_unknown_style_is_refused_with_the_choices(tenant):
    with pytest.raises(ValidationError, match="standard, svix, github, stripe"):
        endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x", signature_style="paypal")
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    with pytest.raises(ValidationError, match="signature_style"):
        endpoint_update(endpoint=endpoint, signature_style="")
    endpoint.refresh_from_db()
    assert endpoint.signature_style == "standard"


@pytest.mark.parametrize("header", ["Stripe-Signature", "X-Hub-Signature-256", "X-GitHub-Event"])
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
