"""The "test a payload filter" page costs CPU: it is for members who can write, bounded in what it
reads and runs, and rate-limited per tenant."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deliveries import publish_event
from endpoints import portal
from endpoints.models import Membership
from endpoints.payload_filter import TEST_MAX_CHARS
from endpoints.services import endpoint_create
from tests.dashboard.conftest import make_user
from tests.dashboard.test_portal_link import enter

pytestmark = pytest.mark.django_db


@pytest.fixture
def filtered(tenant, invoice_paid):  # type: ignore[no-untyped-def]
    endpoint, _ = endpoint_create(
        tenant=tenant, url="http://127.0.0.1:9/f", payload_filter={"data.amount": {"$gt": 10}}
    )
    publish_event(tenant, "invoice.paid", {"amount": 50})
    return endpoint


def test_a_viewer_member_may_not_run_the_filter_test(client_for, tenant, filtered):
    viewer = make_user("vera")
    Membership.objects.create(user=viewer, tenant=tenant, role=Membership.Role.VIEWER)
    client = client_for(viewer)

    page = client.get(reverse("endpoint-filter-test", args=[filtered.pk]))
    detail = client.get(reverse("endpoint-detail", args=[filtered.pk])).content.decode()

    assert page.status_code == 403
    assert reverse("endpoint-filter-test", args=[filtered.pk]) not in detail


def test_a_read_only_portal_link_may_not_run_the_filter_test(client, tenant, filtered):
    enter(client, portal.portal_link(tenant, read_only=True))

    page = client.get(
        reverse("endpoint-filter-test", args=[filtered.pk]), {"filter": '{"data.amount": 1}'}
    )

    assert page.status_code == 403


def test_the_filter_test_is_rate_limited_per_tenant(
    client_for, member, other_member, other_tenant, filtered, settings
):
    settings.WEBHOOKS_FILTER_TEST_RATE_LIMIT = 3
    other, _ = endpoint_create(tenant=other_tenant, url="http://127.0.0.1:9/g")
    client = client_for(member)
    url = reverse("endpoint-filter-test", args=[filtered.pk])

    allowed = [client.get(url, {"filter": f'{{"data.amount": {n}}}'}) for n in range(3)]
    refused = client.get(url)
    elsewhere = client_for(other_member).get(reverse("endpoint-filter-test", args=[other.pk]))

    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
    assert "tested filters 3 times in the last minute" in refused.content.decode()
    assert refused.context["verdicts"] == []
    assert elsewhere.status_code == 200  # another tenant counts its own


def test_a_too_complex_pattern_is_refused_before_anything_runs(client_for, member, filtered):
    url = reverse("endpoint-filter-test", args=[filtered.pk])
    heavy = ", ".join(f'"data.f{n}": {{"$regex": "x{n}"}}' for n in range(11))

    complex_one = client_for(member).get(
        url, {"filter": '{"data.note": {"$regex": "\\\\pL{380}\\\\pN"}}'}
    )
    too_many = client_for(member).get(url, {"filter": "{" + heavy + "}"})

    assert "the pattern is too complex" in complex_one.content.decode()
    assert complex_one.context["verdicts"] == []
    assert "a filter holds at most 10 $regex patterns (11 given)" in too_many.content.decode()
    assert too_many.context["verdicts"] == []


def test_a_regex_on_a_large_event_is_reported_over_budget_and_old_events_past_the_read_limit_are_not_tested(  # noqa: E501
    client_for, member, tenant, filtered
):
    blob = "x" * 250_000  # a 250 KB string field: beyond what one $regex searches
    for _ in range(5):
        publish_event(tenant, "invoice.paid", {"amount": 1, "note": blob})
    url = reverse("endpoint-filter-test", args=[filtered.pk])

    page = client_for(member).get(url, {"filter": '{"data.note": {"$regex": "needle"}}'})

    verdicts = [v["verdict"] for v in page.context["verdicts"]]
    fit = TEST_MAX_CHARS // 250_000  # bodies read, newest first, up to the page's limit
    # The rest, the fixture's small event included, is past the limit: reading stops there.
    assert verdicts == ["over budget"] * fit + ["not tested"] * (6 - fit)
    assert page.context["verdicts"][0]["why"] == (
        "data.note: $regex runs on strings of at most 16384 bytes, the body has 250000 characters"
    )
    content = page.content.decode()
    assert "over budget: not evaluated" in content
    assert "At fan-out such an event skips the endpoint." in content
    assert f"the test reads at most {TEST_MAX_CHARS:,} characters of event bodies" in content
