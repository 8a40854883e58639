"""Pages say things as people read them (portal issue 30, items 2, 5 and 7): a poll endpoint has
a name and only the panels that apply to it, an attempt shows the exact bytes it sent, and no
internals leak (a job's scope as a Python dict, raw ISO dates, "0 minutes ago", "Inc..")."""

from __future__ import annotations

import html
from datetime import UTC, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deliveries.models import Attempt, Delivery, Job
from deliveries.services.jobs import job_bulk_replay_create
from endpoints.models import Endpoint, Tenant
from endpoints.services import endpoint_create
from endpoints.services.keys import audit_record

from .conftest import make_delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def poll(tenant) -> Endpoint:  # type: ignore[no-untyped-def]
    endpoint, _ = endpoint_create(tenant=tenant, kind=Endpoint.Kind.POLL)
    return endpoint


def test_a_poll_endpoint_is_listed_with_a_link_that_names_it(client_for, member, poll):
    page = client_for(member).get(reverse("endpoint-list")).content.decode()

    href = reverse("endpoint-detail", args=[poll.pk])
    assert f'<a href="{href}" title="Poll feed {poll.pk}">Poll feed {poll.pk}</a>' in page


def test_a_poll_endpoints_page_shows_only_what_applies_to_a_feed(client_for, member, poll):
    page = client_for(member).get(reverse("endpoint-detail", args=[poll.pk])).content.decode()

    assert 'id="feed"' in page
    assert 'class="panel wide" id="feed"' in page
    assert 'id="test"' not in page
    assert 'id="recover"' not in page
    assert 'id="attempt-charts"' not in page


def test_a_push_endpoints_page_keeps_its_test_recover_and_charts(client_for, member, endpoint):
    page = client_for(member).get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()

    assert 'id="test"' in page
    assert 'id="recover"' in page
    assert 'id="attempt-charts"' in page


def test_an_attempt_shows_the_exact_bytes_it_sent_and_a_formatted_view(
    client_for, member, endpoint, invoice_paid
):
    delivery = make_delivery(endpoint, invoice_paid)
    attempt = Attempt.objects.get(delivery=delivery)
    body = delivery.event.body

    page = client_for(member).get(reverse("attempt-detail", args=[attempt.pk])).content.decode()

    assert (
        f'<pre tabindex="0" id="body-sent" aria-label="body as sent">{html.escape(body)}</pre>'
        in page
    )
    assert f"The exact {len(body.encode())} bytes signed and sent" in page
    assert '"data": {\n    "n": 1\n  }' in html.unescape(page)


def test_an_attempt_signed_the_stripe_way_shows_the_stripe_event_it_sent(
    client_for, member, endpoint, invoice_paid
):
    delivery = make_delivery(endpoint, invoice_paid)
    Attempt.objects.filter(delivery=delivery).update(
        request_headers={"stripe-signature": "t=1,v1=abc", "content-type": "application/json"}
    )
    attempt = Attempt.objects.get(delivery=delivery)

    page = client_for(member).get(reverse("attempt-detail", args=[attempt.pk])).content.decode()

    sent = html.unescape(
        page.split('id="body-sent" aria-label="body as sent">')[1].split("</pre>")[0]
    )
    assert sent.startswith(f'{{"id":"{delivery.event_id}","object":"event",')
    assert '"type":"invoice.paid"' in sent


def test_a_jobs_scope_is_labelled_values_not_a_python_dict(
    client_for, staff, tenant, endpoint, invoice_paid
):
    since = timezone.now() - timedelta(hours=6)
    job = job_bulk_replay_create(
        tenant=tenant, filters={"status": "failed", "since": since.isoformat()}, user=staff
    )
    Job.objects.filter(pk=job.pk).update(params={**job.params, "replayed_ids": [1, 2]})

    page = client_for(staff).get(reverse("support-job", args=[job.pk])).content.decode()

    scope = page.split('id="job-scope">')[1].split("</dl>")[0]
    assert "<dt>status</dt><dd>failed</dd>" in scope
    iso = since.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    assert f'<dt>since</dt><dd><time datetime="{iso}"' in scope
    assert "{" not in scope
    assert since.isoformat() not in page
    assert "replayed" not in scope


def test_the_audit_log_shows_times_in_details_as_times(client_for, staff, tenant):
    since = timezone.now() - timedelta(hours=2)
    audit_record(
        action="endpoint.recover",
        actor=staff,
        tenant=tenant,
        details={"since": since.isoformat(), "filters": {"status": "failed"}},
    )

    page = client_for(staff).get(reverse("support-audit")).content.decode()

    assert since.isoformat() not in page
    assert '<span class="muted">since:</span> <span class="long"><time datetime=' in page
    assert '<span class="muted">status:</span> <span class="long">failed</span>' in page
    assert "When (UTC)" not in page


def test_a_name_ending_in_a_full_stop_gets_no_second_one(client_for, member, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(name="Acme Inc.")

    page = client_for(member).get(reverse("delivery-log")).content.decode()

    assert "of Acme Inc.</p>" in page
    assert "Inc.." not in page


def test_the_endpoint_list_gives_the_last_delivery_a_time_not_a_duration(
    client_for, member, endpoint, invoice_paid
):
    make_delivery(endpoint, invoice_paid, status=Delivery.Status.SUCCEEDED, response_status=200)

    page = client_for(member).get(reverse("endpoint-list")).content.decode()

    row = page.split('id="endpoints"')[1]
    assert " ago<" not in row
    assert "minutes" not in row
    assert '<time datetime="' in row


def test_charts_count_attempts_as_attempts_and_draw_a_lone_hour_as_a_level(
    client_for, member, endpoint, invoice_paid
):
    make_delivery(endpoint, invoice_paid, status=Delivery.Status.SUCCEEDED, response_status=200)
    make_delivery(endpoint, invoice_paid, status=Delivery.Status.SUCCEEDED, response_status=500)

    page = client_for(member).get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()

    assert "2 attempts: 1 succeeded, 1 failed" in page
    assert "a failed attempt is retried: its delivery may still have succeeded" in page
    assert " delivered," not in page
    # One hour with answers, none beside it: a level across its slot, p50 and p95.
    assert page.count('class="step"') == 4


def test_the_bulk_replay_confirmation_shows_its_window_as_times(client_for, staff, failed_delivery):
    page = client_for(staff).post(
        reverse("support-bulk-replay"),
        {"scope": "all", "status": "failed", "since": "2026-01-05T09:00"},
    )

    text = page.content.decode()
    assert page.status_code == 200
    assert '<dt>since</dt><dd><time datetime="2026-01-05T09:00:00Z"' in text
    assert "<dt>status</dt><dd>failed</dd>" in text
