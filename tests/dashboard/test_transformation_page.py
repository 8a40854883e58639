"""The endpoint's transformation page: save versions (audited), enable and disable, run the
code on a recent event (input, output, error), for members who can write, rate-limited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deliveries import publish_event
from endpoints.models import AuditEntry, Membership
from endpoints.services import endpoint_create
from tests.dashboard.conftest import make_user

pytestmark = pytest.mark.django_db

SLACK = "function handler(w) { w.payload = {text: 'paid ' + w.payload.data.amount}; return w; }"


@pytest.fixture
def endpoint(tenant, invoice_paid):  # type: ignore[no-untyped-def]
    found, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/t")
    return found


def test_saving_keeps_versions_and_is_audited(client_for, member, endpoint):
    client = client_for(member)
    url = reverse("endpoint-transformation", args=[endpoint.pk])

    client.post(url, {"action": "save", "code": SLACK, "enabled": "on"})
    client.post(url, {"action": "save", "code": SLACK.replace("paid", "got")})
    page = client.get(url).content.decode()

    endpoint.refresh_from_db()
    assert endpoint.transformation_enabled is False  # the second save left it unticked
    assert list(endpoint.transformations.order_by("version").values_list("version", flat=True)) == [
        1,
        2,
    ]
    entries = AuditEntry.objects.filter(action="endpoint.transformation_update").order_by("id")
    assert [e.details for e in entries] == [
        {"version": 1, "enabled": True},
        {"version": 2, "enabled": False},
    ]
    assert entries[0].actor == member
    assert "version 2" in page


def test_code_that_does_not_compile_is_refused_with_its_error(client_for, member, endpoint):
    response = client_for(member).post(
        reverse("endpoint-transformation", args=[endpoint.pk]),
        {"action": "save", "code": "function handler(w {"},
    )

    assert response.status_code == 400
    assert "Code cannot be saved: the code does not compile: SyntaxError" in (
        response.content.decode()
    )
    assert not endpoint.transformations.exists()


def test_a_run_on_a_recent_event_shows_input_and_output(client_for, member, tenant, endpoint):
    event = publish_event(tenant, "invoice.paid", {"amount": 42})

    page = client_for(member).post(
        reverse("endpoint-transformation", args=[endpoint.pk]),
        {"action": "run", "code": SLACK, "event": event.pk},
    )

    html = page.content.decode()
    assert page.status_code == 200
    assert "&quot;eventType&quot;: &quot;invoice.paid&quot;" in html
    assert "&quot;text&quot;: &quot;paid 42&quot;" in html
    assert not endpoint.transformations.exists()  # a run saves nothing


def test_a_run_that_throws_shows_the_error(client_for, member, tenant, endpoint):
    event = publish_event(tenant, "invoice.paid", {"amount": 42})

    page = client_for(member).post(
        reverse("endpoint-transformation", args=[endpoint.pk]),
        {"action": "run", "code": "function handler(w) { return w.nope.x; }", "event": event.pk},
    )

    assert "transformation threw TypeError: cannot read property &#x27;x&#x27; of undefined" in (
        page.content.decode()
    )


def test_a_viewer_may_not_open_the_page(client_for, tenant, endpoint):
    viewer = make_user("vera")
    Membership.objects.create(user=viewer, tenant=tenant, role=Membership.Role.VIEWER)

    page = client_for(viewer).get(reverse("endpoint-transformation", args=[endpoint.pk]))

    assert page.status_code == 403


def test_another_tenants_endpoint_is_a_404(client_for, other_member, endpoint):
    page = client_for(other_member).get(reverse("endpoint-transformation", args=[endpoint.pk]))

    assert page.status_code == 404


def test_runs_are_rate_limited_per_tenant(client_for, member, tenant, endpoint, settings):
    settings.WEBHOOKS_TRANSFORM_TEST_RATE_LIMIT = 2
    event = publish_event(tenant, "invoice.paid", {"amount": 1})
    client = client_for(member)
    url = reverse("endpoint-transformation", args=[endpoint.pk])
    run = {"action": "run", "code": SLACK, "event": event.pk}

    allowed = [client.post(url, run) for _ in range(2)]
    refused = client.post(url, run)

    assert [r.status_code for r in allowed] == [200, 200]
    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
