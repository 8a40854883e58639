"""Every dashboard page renders for the people who may see it, with what they came for."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deliveries.models import Attempt, Delivery, Job
from deliveries.services.jobs import job_bulk_replay_create
from endpoints.models import Membership
from endpoints.services import endpoint_create

from .conftest import make_delivery, make_user

pytestmark = pytest.mark.django_db


def test_root_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == reverse("login")


def test_login_page_signs_a_member_in_and_lands_on_endpoints(client, member):
    response = client.post(
        reverse("login"), {"username": "alice", "password": "correct-horse-battery"}, follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("endpoint-list")
    assert b"Endpoints" in response.content


def test_endpoint_list_shows_state_last_status_and_success_rate(
    client_for, member, endpoint, invoice_paid
):
    make_delivery(endpoint, invoice_paid, status=Delivery.Status.SUCCEEDED, response_status=200)
    make_delivery(endpoint, invoice_paid, status=Delivery.Status.FAILED, response_status=500)
    make_delivery(endpoint, invoice_paid, status=Delivery.Status.FAILED, response_status=503)

    response = client_for(member).get(reverse("endpoint-list"))

    html = response.content.decode()
    assert response.status_code == 200
    assert endpoint.url in html
    assert "invoice.paid" in html
    assert "33%" in html
    assert "1 of 3 attempts" in html
    assert '<span class="badge failed">failed</span>' in html


def test_endpoint_detail_hides_the_secret_and_draws_both_charts(client_for, member, endpoint):
    from endpoints.services import endpoint_secret_current

    response = client_for(member).get(reverse("endpoint-detail", args=[endpoint.pk]))

    html = response.content.decode()
    assert endpoint_secret_current(endpoint=endpoint) not in html
    assert "whsec_••••" in html
    assert html.count("<svg") == 4
    assert "Last 24 hours, per hour (UTC)" in html
    assert "Last 7 days, per day" in html


def test_chart_has_one_bar_per_outcome_in_the_right_hour(
    client_for, member, endpoint, invoice_paid
):
    make_delivery(endpoint, invoice_paid, status=Delivery.Status.SUCCEEDED, response_status=200)
    make_delivery(endpoint, invoice_paid, response_status=500)
    make_delivery(
        endpoint, invoice_paid, response_status=500, created_at=timezone.now() - timedelta(days=3)
    )

    from deliveries.views_charts import endpoint_charts

    hourly, daily = endpoint_charts(endpoint=endpoint)

    assert (hourly.ok_total, hourly.failed_total) == (1, 1)
    assert (hourly.bars[-1].ok, hourly.bars[-1].failed) == (1, 1)
    assert (daily.ok_total, daily.failed_total) == (1, 2)
    assert (daily.bars[3].ok, daily.bars[3].failed) == (0, 1)
    html = client_for(member).get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()
    assert html.count('class="failed"') == 3
    assert html.count('class="ok"') == 2


def test_attempt_detail_shows_request_and_response(client_for, member, failed_delivery):
    attempt = Attempt.objects.get(delivery=failed_delivery)

    response = client_for(member).get(reverse("attempt-detail", args=[attempt.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert attempt.request_url in html
    assert "webhook-id" in html
    assert "&quot;type&quot;: &quot;invoice.paid&quot;" in html
    assert "status 500" in html
    assert "12 ms" in html


def test_attempt_detail_labels_a_binary_body(client_for, member, failed_delivery):
    attempt = Attempt.objects.get(delivery=failed_delivery)
    attempt.response_body = "//4AYmluYXJ5"
    attempt.response_body_encoding = Attempt.BodyEncoding.BASE64
    attempt.save()

    html = client_for(member).get(reverse("attempt-detail", args=[attempt.pk])).content.decode()

    assert "Binary response (9 bytes), shown as base64." in html
    assert "//4AYmluYXJ5" in html


def test_delivery_log_filters_by_status_and_type(
    client_for, member, endpoint, invoice_paid, user_created
):
    ok = make_delivery(endpoint, invoice_paid, status="succeeded", response_status=200)
    failed = make_delivery(endpoint, invoice_paid)
    other_type = make_delivery(endpoint, user_created)
    client = client_for(member)

    by_status = client.get(reverse("delivery-log"), {"status": "failed"}).context["items"]
    by_type = client.get(reverse("delivery-log"), {"event_type": "user.created"}).context["items"]

    assert [d.pk for d in by_status] == [other_type.pk, failed.pk]
    assert [d.pk for d in by_type] == [other_type.pk]
    assert ok.pk not in [d.pk for d in by_status]


def test_lists_say_how_many_match_up_to_a_cap(
    client_for, member, staff, endpoint, invoice_paid, monkeypatch
):
    from deliveries import views

    for _ in range(3):
        make_delivery(endpoint, invoice_paid)
    make_delivery(endpoint, invoice_paid, status="succeeded", response_status=200)
    client = client_for(member)

    failed = client.get(reverse("delivery-log"), {"status": "failed"})
    assert failed.context["matching"] == 3
    assert "3 matches" in failed.content.decode()
    one = client.get(reverse("delivery-log"), {"status": "succeeded"}).content.decode()
    assert "1 match<" in one
    support = client_for(staff).get(reverse("support-deliveries")).content.decode()
    assert "3 matches" in support

    monkeypatch.setattr(views, "COUNT_CAP", 2)
    capped = client.get(reverse("delivery-log"))
    assert (capped.context["matching"], capped.context["matching_more"]) == (2, True)
    assert "More than 2 match" in capped.content.decode()


def test_delivery_log_filters_by_time_range(client_for, member, endpoint, invoice_paid):
    old = make_delivery(endpoint, invoice_paid)
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    new = make_delivery(endpoint, invoice_paid)
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    items = client_for(member).get(reverse("delivery-log"), {"since": since}).context["items"]

    assert [d.pk for d in items] == [new.pk]


def test_delivery_log_rejects_an_inverted_time_range(client_for, member, failed_delivery):
    response = client_for(member).get(
        reverse("delivery-log"), {"since": "2030-01-02T00:00", "until": "2030-01-01T00:00"}
    )

    assert response.context["items"] == []
    assert "must be after" in response.content.decode()


def test_delivery_log_pages_with_a_keyset_cursor(client_for, member, endpoint, invoice_paid):
    ids = [make_delivery(endpoint, invoice_paid).pk for _ in range(55)]
    client = client_for(member)

    first = client.get(reverse("endpoint-delivery-log", args=[endpoint.pk]))
    second = client.get(
        reverse("endpoint-delivery-log", args=[endpoint.pk]) + "?" + first.context["next_query"]
    )

    assert [d.pk for d in first.context["items"]] == sorted(ids, reverse=True)[:50]
    assert [d.pk for d in second.context["items"]] == sorted(ids, reverse=True)[50:]
    assert second.context["next_query"] == ""


def test_a_forged_cursor_is_a_404(client_for, member):
    response = client_for(member).get(reverse("delivery-log"), {"cursor": "not-a-cursor!"})

    assert response.status_code == 404


def test_catalogue_shows_schema_and_example(client_for, member):
    from endpoints.services import event_type_create

    event_type_create(
        name="order.shipped",
        description="An order left the warehouse.",
        schema={"type": "object", "properties": {"order_id": {"type": "string"}}},
        example={"order_id": "ord_1"},
    )

    html = client_for(member).get(reverse("event-catalogue")).content.decode()

    assert "An order left the warehouse." in html
    assert "&quot;order_id&quot;: &quot;ord_1&quot;" in html
    assert "&quot;type&quot;: &quot;object&quot;" in html


def test_tenant_switcher_changes_the_tenant_in_view(client_for, tenant, other_tenant):
    user = make_user("carol", tenants=(tenant, other_tenant))
    globex_endpoint, _ = endpoint_create(tenant=other_tenant, url="http://127.0.0.1:9/globex")
    client = client_for(user)

    before = client.get(reverse("endpoint-list")).content.decode()
    client.post(reverse("tenant-switch"), {"tenant": other_tenant.pk})
    after = client.get(reverse("endpoint-list")).content.decode()

    assert 'name="tenant"' in before
    assert globex_endpoint.url not in before
    assert globex_endpoint.url in after


def test_tenant_switcher_refuses_a_tenant_the_user_is_not_in(client_for, member, other_tenant):
    response = client_for(member).post(reverse("tenant-switch"), {"tenant": other_tenant.pk})

    assert response.status_code == 404


def test_a_signed_in_user_without_membership_sees_an_explanation(client_for, db):
    user = make_user("nobody")

    response = client_for(user).get(reverse("endpoint-list"))

    assert response.status_code == 403
    assert b"not a member of any tenant" in response.content


def test_support_home_lists_failing_and_disabled_endpoints_first(
    client_for, staff, endpoint, other_endpoint, tenant
):
    from deliveries.services.endpoint_lifecycle import endpoint_disable

    healthy, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/healthy")
    endpoint_disable(endpoint=other_endpoint, reason="the receiver answered 410 Gone")
    endpoint.failing_since = timezone.now() - timedelta(hours=3)
    endpoint.save()

    response = client_for(staff).get(reverse("support-home"))

    attention = response.context["attention"]
    assert [e.pk for e in attention] == [endpoint.pk, other_endpoint.pk]
    assert healthy.url not in response.content.decode().split('id="tenants"')[0]
    assert "the receiver answered 410 Gone" in response.content.decode()


def test_support_deliveries_default_to_failed_across_tenants(
    client_for, staff, failed_delivery, other_delivery, endpoint, invoice_paid
):
    make_delivery(endpoint, invoice_paid, status="succeeded", response_status=200)

    items = client_for(staff).get(reverse("support-deliveries")).context["items"]

    assert {d.pk for d in items} == {failed_delivery.pk, other_delivery.pk}


def test_support_deliveries_filter_by_tenant(client_for, staff, failed_delivery, other_delivery):
    response = client_for(staff).get(
        reverse("support-deliveries"), {"tenant": "globex", "status": "failed"}
    )

    assert [d.pk for d in response.context["items"]] == [other_delivery.pk]


def test_support_job_page_and_json(client_for, staff, other_delivery):
    job = job_bulk_replay_create(tenant=None, filters={"status": "failed"}, user=staff)
    client = client_for(staff)

    page = client.get(reverse("support-job", args=[job.pk]))
    data = client.get(reverse("support-job-status", args=[job.pk])).json()

    assert page.status_code == 200
    assert data == {
        "id": job.pk,
        "kind": Job.Kind.BULK_REPLAY,
        "status": "queued",
        "state": "queued",
        "total": 0,
        "done": 0,
        "progress": 1.0,
        "error": "",
        "scope": {"filters": {"status": "failed"}},
        "outcomes": {
            "delivered": 0,
            "still_failing": 0,
            "in_progress": 0,
            "cancelled": 0,
            "skipped": 0,
            "tracked": 0,
        },
    }


def test_viewer_role_sees_pages_but_cannot_change_anything(client_for, tenant, endpoint):
    user = make_user("vic")
    Membership.objects.create(user=user, tenant=tenant, role=Membership.Role.VIEWER)
    client = client_for(user)

    page = client.get(reverse("endpoint-detail", args=[endpoint.pk]))
    toggle = client.post(reverse("endpoint-toggle", args=[endpoint.pk]))

    assert page.status_code == 200
    assert "Reveal" not in page.content.decode()
    assert toggle.status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.enabled is True


def test_viewer_role_sees_custom_header_names_but_not_their_values(
    client_for, member, tenant, failed_delivery
):
    from deliveries.models import Attempt

    attempt = Attempt.objects.get(delivery=failed_delivery)
    attempt.request_headers = {**attempt.request_headers, "X-Api-Key": "receiver-credential"}
    attempt.save()
    viewer = make_user("vera")
    Membership.objects.create(user=viewer, tenant=tenant, role=Membership.Role.VIEWER)

    as_viewer = client_for(viewer).get(reverse("attempt-detail", args=[attempt.pk])).content
    as_admin = client_for(member).get(reverse("attempt-detail", args=[attempt.pk])).content

    assert b"X-Api-Key" in as_viewer
    assert b"receiver-credential" not in as_viewer
    assert b"receiver-credential" in as_admin
    assert failed_delivery.event_id.encode() in as_viewer  # platform headers stay visible


def test_response_time_chart_shows_p50_and_p95_of_answered_attempts_per_hour(
    client_for, member, endpoint, invoice_paid
):
    for ms in (10, 20, 30, 40, 1000):
        delivery = make_delivery(endpoint, invoice_paid, response_status=200)
        Attempt.objects.filter(delivery=delivery).update(duration_ms=ms)
    unanswered = make_delivery(endpoint, invoice_paid, response_status=0)
    Attempt.objects.filter(delivery=unanswered).update(duration_ms=15_000)
    earlier = make_delivery(
        endpoint, invoice_paid, response_status=500, created_at=timezone.now() - timedelta(days=3)
    )
    Attempt.objects.filter(delivery=earlier).update(duration_ms=70)

    from deliveries.views_charts import endpoint_latency_charts

    hourly, daily = endpoint_latency_charts(endpoint=endpoint)

    # percentile_cont over 10, 20, 30, 40, 1000: p50 30, p95 40 + 0.8 x 960 = 808.
    (point,) = hourly.points
    assert point.title.endswith("p50 30 ms, p95 808 ms")
    assert hourly.max_ms == 808
    assert [p.title.split(": ")[1] for p in daily.points] == [
        "p50 70 ms, p95 70 ms",
        "p50 30 ms, p95 808 ms",
    ]
    html = client_for(member).get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()
    assert "Time to an answer, last 24 hours, per hour (UTC)" in html
    assert html.count('class="p50"') == 2
