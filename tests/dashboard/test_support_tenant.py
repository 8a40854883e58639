"""Support's view of one tenant: each endpoint's configuration, state and backlog, and actions."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from deliveries.models import Delivery
from endpoints.models import AuditEntry, Endpoint
from endpoints.services import endpoint_create

from .conftest import make_delivery

pytestmark = pytest.mark.django_db


def test_the_tenant_page_shows_configuration_state_and_backlog(
    client_for, staff, tenant, invoice_paid
):
    endpoint, _ = endpoint_create(
        tenant=tenant,
        url="http://127.0.0.1:9/orders",
        event_types=["invoice.paid"],
        rate_limit=25,
        channels=["eu"],
        signature_style="stripe",
    )
    Endpoint.objects.filter(pk=endpoint.pk).update(
        circuit_state="open", circuit_next_probe_at=timezone.now(), consecutive_failures=4
    )
    for _ in range(3):
        make_delivery(endpoint, invoice_paid, status=Delivery.Status.PENDING)
    make_delivery(endpoint, invoice_paid, status=Delivery.Status.SUCCEEDED)

    page = client_for(staff).get(reverse("support-tenant", args=[tenant.slug]))

    assert page.status_code == 200
    (shown,) = page.context["endpoints"]
    assert (shown.waiting, shown.in_flight) == (3, 0)
    html = page.content.decode()
    for text in ("http://127.0.0.1:9/orders", "invoice.paid", "channels: eu", "25/s", "stripe"):
        assert text in html
    assert "Circuit open" in html
    assert "4 failures in a row" in html
    assert reverse("support-circuit-reset", args=[endpoint.pk]) in html
    home = client_for(staff).get(reverse("support-home")).content.decode()
    assert reverse("support-tenant", args=[tenant.slug]) in home


def test_support_disables_and_enables_an_endpoint_and_both_are_audited(
    client_for, staff, tenant, endpoint
):
    client = client_for(staff)
    url = reverse("support-endpoint-toggle", args=[endpoint.pk])

    disabled = client.post(url)
    endpoint.refresh_from_db()
    was = (endpoint.enabled, endpoint.disabled_reason)
    client.post(url)
    endpoint.refresh_from_db()

    assert disabled["Location"] == reverse("support-tenant", args=[tenant.slug])
    assert was == (False, "disabled by support")
    assert endpoint.enabled
    actions = list(AuditEntry.objects.order_by("id").values_list("action", "actor", "target_id"))
    assert actions == [
        ("endpoint.disable", staff.pk, endpoint.pk),
        ("endpoint.enable", staff.pk, endpoint.pk),
    ]


def test_members_who_are_not_staff_cannot_see_or_act(client_for, member, tenant, endpoint):
    client = client_for(member)

    page = client.get(reverse("support-tenant", args=[tenant.slug]))
    toggle = client.post(reverse("support-endpoint-toggle", args=[endpoint.pk]))

    assert page.status_code == 403
    assert toggle.status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.enabled


def test_an_unknown_tenant_is_404(client_for, staff):
    assert client_for(staff).get(reverse("support-tenant", args=["nobody"])).status_code == 404


def test_support_sees_a_tenants_portal_links_and_ends_them(client, client_for, staff, tenant):
    from endpoints import portal
    from endpoints.dashboard import PORTAL_SESSION_KEY

    link = portal.portal_link(tenant, read_only=True)
    path, _, token = link.partition("#")
    client.post(path, {"token": token, "enter": "yes"})
    assert client.session[PORTAL_SESSION_KEY] == tenant.pk
    support = client_for(staff)

    page = support.get(reverse("support-tenant", args=[tenant.slug])).content.decode()
    assert portal.portal_token_verify(token).pk in page
    assert "read-only" in page

    ended = support.post(reverse("support-portal-links-expire", args=[tenant.slug]))
    assert ended.status_code == 302
    assert portal.portal_token_verify(token) is None
    assert client.get(reverse("endpoint-list")).status_code == 403
    entry = AuditEntry.objects.get(action="portal_link.expire_all")
    assert (entry.actor, entry.details) == (staff, {"links": 1})
