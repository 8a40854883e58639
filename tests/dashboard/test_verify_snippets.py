"""The endpoint page's signature-verification snippets, the Python ones run on real deliveries."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deliveries import publish_event
from deliveries.services.engines import engine_new
from deliveries.services.fanout import event_fan_out
from endpoints.models import Tenant
from endpoints.services import endpoint_create, endpoint_secret_current
from endpoints.verify_snippets import verify_snippets

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("message_format", "library"), [("standard", "standardwebhooks"), ("svix", "svix")]
)
def test_the_page_shows_each_language_for_the_tenants_format(
    client_for, member, tenant, invoice_paid, message_format, library
):
    Tenant.objects.filter(pk=tenant.pk).update(message_format=message_format)
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/hook")

    page = client_for(member).get(reverse("endpoint-detail", args=[endpoint.pk]))

    shown = page.context["verify_snippets"]
    assert [s.language for s in shown] == ["Python", "Node", "Go", "Ruby", "PHP"]
    assert all(library.replace("-", "") in s.install.replace("-", "") for s in shown)
    assert page.content.count(b'<pre class="code" tabindex="0">') == 5
    assert b"WEBHOOK_SECRET" in page.content


@pytest.mark.parametrize("message_format", ["standard", "svix"])
def test_the_python_snippet_verifies_a_real_delivery_and_refuses_a_tampered_one(
    tenant, invoice_paid, receiver, monkeypatch, message_format
):
    tenant.message_format = message_format
    tenant.save(update_fields=["message_format"])
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    event = publish_event(tenant, "invoice.paid", {"amount": 1250})
    event_fan_out(event_id=event.pk)
    engine_new().run_until_idle()
    (request,) = receiver.received()
    monkeypatch.setenv("WEBHOOK_SECRET", endpoint_secret_current(endpoint=endpoint))
    scope: dict[str, object] = {}

    exec(verify_snippets(message_format)[0].code, scope)  # noqa: S102  our own snippet
    handle = scope["handle"]
    verified = handle(request.body, dict(request.headers))  # type: ignore[operator]

    data = verified if message_format == "svix" else verified["data"]
    assert data == {"amount": 1250}
    with pytest.raises(Exception, match="(?i)signature"):
        handle(request.body.replace(b"1250", b"9999"), dict(request.headers))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("style", "library", "header"),
    [
        ("svix", "svix", "svix-signature"),
        ("github", "@octokit/webhooks-methods", "x-hub-signature-256"),
        ("stripe", "stripe", "stripe-signature"),
        ("twilio", "twilio", "x-twilio-signature"),
        ("ed25519", "node:crypto", "webhook-signature"),
    ],
)
def test_the_page_shows_the_snippets_of_the_endpoints_signature_style(
    client_for, member, tenant, style, library, header
):
    endpoint, _ = endpoint_create(
        tenant=tenant, url="http://127.0.0.1:9/hook", signature_style=style
    )

    page = client_for(member).get(reverse("endpoint-detail", args=[endpoint.pk]))

    shown = page.context["verify_snippets"]
    assert shown[0].language == "Python"
    assert library in shown[1].install
    assert f"<code>{header}</code> header" in page.content.decode()


@pytest.mark.parametrize("style", ["svix", "github", "stripe", "ed25519"])  # twilio: below
def test_each_styles_python_snippet_verifies_a_real_delivery(
    tenant, invoice_paid, receiver, monkeypatch, style
):
    endpoint, secret = endpoint_create(
        tenant=tenant, url=receiver.url("/ok"), signature_style=style
    )
    event = publish_event(tenant, "invoice.paid", {"amount": 1250})
    event_fan_out(event_id=event.pk)
    engine_new().run_until_idle()
    (request,) = receiver.received()
    monkeypatch.setenv("WEBHOOK_PUBLIC_KEY" if style == "ed25519" else "WEBHOOK_SECRET", secret)
    scope: dict[str, object] = {}

    exec(verify_snippets("standard", style)[0].code, scope)  # noqa: S102  our own snippet
    handle = scope["handle"]
    verified = handle(request.body, dict(request.headers))  # type: ignore[operator]

    data = verified["data"]["object"] if style == "stripe" else verified["data"]
    assert data["amount"] == 1250
    with pytest.raises(Exception, match="(?i)signature"):
        handle(request.body.replace(b"1250", b"9999"), dict(request.headers))  # type: ignore[operator]


def test_the_twilio_python_snippet_verifies_a_real_delivery_at_the_url_it_came_to(
    tenant, invoice_paid, receiver, monkeypatch
):
    endpoint, secret = endpoint_create(
        tenant=tenant, url=receiver.url("/ok"), signature_style="twilio"
    )
    event = publish_event(tenant, "invoice.paid", {"amount": 1250})
    event_fan_out(event_id=event.pk)
    engine_new().run_until_idle()
    (request,) = receiver.received()
    url = f"{receiver.base_url}{request.path}?{request.query}"
    monkeypatch.setenv("WEBHOOK_SECRET", secret)
    scope: dict[str, object] = {}

    exec(verify_snippets("standard", "twilio")[0].code, scope)  # noqa: S102  our own snippet
    handle = scope["handle"]
    verified = handle(url, request.body, dict(request.headers))  # type: ignore[operator]

    assert verified["data"]["amount"] == 1250
    with pytest.raises(Exception, match="(?i)signature"):
        handle(url, request.body.replace(b"1250", b"9999"), dict(request.headers))  # type: ignore[operator]
