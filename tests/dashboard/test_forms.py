"""The endpoint form shows the services' validation messages, and actions write audit lines."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deliveries import publish_event
from deliveries.models import Delivery, Event, Job
from endpoints.models import AuditEntry, Endpoint, EndpointSecret
from endpoints.services import endpoint_create, headers_open

pytestmark = pytest.mark.django_db


def test_create_endpoint_with_types_and_headers(client_for, member, tenant, invoice_paid):
    response = client_for(member).post(
        reverse("endpoint-create"),
        {
            "url": "http://127.0.0.1:9/new",
            "description": "billing",
            "event_types": ["invoice.paid"],
            "headers": "X-Api-Key: abc 123\n\nX-Team: billing",
            "enabled": "on",
        },
    )

    endpoint = Endpoint.objects.get(tenant=tenant)
    assert response.status_code == 302
    assert response["Location"] == reverse("endpoint-detail", args=[endpoint.pk])
    assert endpoint.description == "billing"
    assert [t.name for t in endpoint.event_types.all()] == ["invoice.paid"]
    assert headers_open(endpoint.headers) == {"X-Api-Key": "abc 123", "X-Team": "billing"}
    assert "abc 123" not in endpoint.headers["X-Api-Key"]  # stored sealed (no space in it)
    assert endpoint.enabled is True


def test_forbidden_address_is_explained_next_to_the_url(client_for, member, settings):
    settings.WEBHOOKS_ALLOWED_SUBNETS = []

    response = client_for(member).post(reverse("endpoint-create"), {"url": "http://127.0.0.1/x"})

    assert response.status_code == 200
    assert response.context["form"].errors["url"] == ["127.0.0.1 is a loopback address"]
    assert 'id="url-errors"' in response.content.decode()
    assert not Endpoint.objects.exists()


def test_wrong_scheme_is_explained(client_for, member):
    response = client_for(member).post(reverse("endpoint-create"), {"url": "ftp://127.0.0.1/x"})

    assert response.context["form"].errors["url"] == ["URL scheme must be http or https"]


def test_reserved_header_is_refused_with_the_services_message(client_for, member):
    response = client_for(member).post(
        reverse("endpoint-create"),
        {"url": "http://127.0.0.1:9/x", "headers": "webhook-id: forged"},
    )

    assert response.context["form"].errors["headers"] == [
        "'webhook-id' is set by the platform and cannot be overridden."
    ]
    assert not Endpoint.objects.exists()


def test_a_header_line_without_a_colon_is_refused(client_for, member):
    response = client_for(member).post(
        reverse("endpoint-create"), {"url": "http://127.0.0.1:9/x", "headers": "just-a-name"}
    )

    assert response.context["form"].errors["headers"] == ["Line 1 is not in the form Name: value."]


def test_edit_keeps_values_and_reports_errors(client_for, member, endpoint, settings):
    settings.WEBHOOKS_ALLOWED_SUBNETS = []
    client = client_for(member)

    page = client.get(reverse("endpoint-edit", args=[endpoint.pk]))
    response = client.post(
        reverse("endpoint-edit", args=[endpoint.pk]),
        {"url": "http://10.0.0.1/x", "event_types": ["invoice.paid"], "enabled": "on"},
    )

    assert page.context["form"].initial["url"] == endpoint.url
    assert response.context["form"].errors["url"] == ["10.0.0.1 is a private address"]
    endpoint.refresh_from_db()
    assert endpoint.url == "http://127.0.0.1:9/hook"


def test_edit_never_shows_a_credential_and_saving_the_page_as_is_keeps_it(
    client_for, member, tenant, invoice_paid
):
    endpoint, _ = endpoint_create(
        tenant=tenant,
        url="http://127.0.0.1:9/hook",
        event_types=["invoice.paid"],
        headers={"Authorization": "Bearer s3cret", "X-Team": "billing"},
    )
    client = client_for(member)

    page = client.get(reverse("endpoint-edit", args=[endpoint.pk]))
    shown = page.context["form"].initial["headers"]
    response = client.post(
        reverse("endpoint-edit", args=[endpoint.pk]),
        {"url": endpoint.url, "event_types": ["invoice.paid"], "headers": shown, "enabled": "on"},
    )

    assert b"s3cret" not in page.content
    # (PostgreSQL's jsonb keeps keys in its own order.)
    assert sorted(shown.splitlines()) == ["Authorization: [redacted]", "X-Team: billing"]
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert headers_open(endpoint.headers) == {
        "Authorization": "Bearer s3cret",
        "X-Team": "billing",
    }


def test_edit_disabling_the_endpoint_is_audited(client_for, member, endpoint):
    response = client_for(member).post(
        reverse("endpoint-edit", args=[endpoint.pk]),
        {"url": endpoint.url, "event_types": ["invoice.paid"]},
    )

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert endpoint.disabled_reason == "disabled by user"
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_id, entry.actor) == ("endpoint.disable", endpoint.pk, member)


def test_delete_needs_confirmation_and_is_audited(client_for, member, endpoint):
    client = client_for(member)

    confirm = client.get(reverse("endpoint-delete", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    still_there = endpoint.deleted_at is None
    client.post(reverse("endpoint-delete", args=[endpoint.pk]))

    endpoint.refresh_from_db()
    assert b"Delete this endpoint?" in confirm.content
    assert still_there
    assert endpoint.deleted_at is not None
    assert AuditEntry.objects.get().action == "endpoint.delete"


def test_reveal_returns_the_current_secret_uncached(client_for, member, endpoint):
    from endpoints.services import endpoint_secret_current

    response = client_for(member).post(
        reverse("endpoint-secret", args=[endpoint.pk]), HTTP_ACCEPT="application/json"
    )

    assert response.json() == {"secret": endpoint_secret_current(endpoint=endpoint)}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db(transaction=True)  # as a real request runs: no test transaction around it
def test_rotate_asks_first_and_says_until_when_the_old_secret_signs(client_for, member, endpoint):
    client = client_for(member)
    url = reverse("endpoint-secret-rotate", args=[endpoint.pk])

    asked = client.post(url, {"grace_period_seconds": "3600"})
    rotated = client.post(url, {"grace_period_seconds": "3600", "confirm": "yes"}, follow=True)

    assert asked.status_code == 200
    assert "Rotate the secret" in asked.content.decode()
    assert 'id="rotate-until"' in asked.content.decode()
    html = rotated.content.decode()
    assert "The previous secret keeps signing until" in html
    assert 'id="old-secret"' in html  # the endpoint page says so too
    assert EndpointSecret.objects.filter(endpoint=endpoint).count() == 2


def test_rotate_keeps_the_old_secret_for_the_grace_period(client_for, member, endpoint):
    response = client_for(member).post(
        reverse("endpoint-secret-rotate", args=[endpoint.pk]),
        {"grace_period_seconds": "3600", "confirm": "yes"},
    )

    secrets = list(EndpointSecret.objects.filter(endpoint=endpoint).order_by("created_at", "id"))
    assert response.status_code == 302
    assert len(secrets) == 2
    assert secrets[1].expires_at is None
    remaining = secrets[0].expires_at - timezone.now()
    assert timedelta(minutes=59) < remaining <= timedelta(hours=1)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.details) == (
        "endpoint.secret_rotate",
        {"grace_period_seconds": 3600},
    )


def test_rotate_refuses_a_grace_period_beyond_seven_days(client_for, member, endpoint):
    response = client_for(member).post(
        reverse("endpoint-secret-rotate", args=[endpoint.pk]),
        {"grace_period_seconds": str(8 * 86400), "confirm": "yes"},
        follow=True,
    )

    assert "Give 0 to 604800 seconds." in response.content.decode()
    assert EndpointSecret.objects.filter(endpoint=endpoint).count() == 1


def test_send_test_event_publishes_to_this_endpoint_only(client_for, member, endpoint):
    response = client_for(member).post(
        reverse("endpoint-send-test", args=[endpoint.pk]), {"event_type": "invoice.paid"}
    )

    event = Event.objects.get()
    assert (
        response["Location"] == reverse("endpoint-detail", args=[endpoint.pk]) + "?watch=1#recent"
    )
    assert event.only_endpoint_id == endpoint.pk
    assert event.payload == {"test": True}


def test_send_test_event_of_an_unknown_type_says_so(client_for, member, endpoint):
    response = client_for(member).post(
        reverse("endpoint-send-test", args=[endpoint.pk]), {"event_type": "nope"}, follow=True
    )

    assert "unknown event type" in response.content.decode()
    assert not Event.objects.exists()


def test_replay_requeues_the_delivery_and_is_audited(client_for, member, failed_delivery):
    response = client_for(member).post(reverse("delivery-replay", args=[failed_delivery.pk]))

    failed_delivery.refresh_from_db()
    assert response["Location"] == reverse("delivery-detail", args=[failed_delivery.pk])
    assert failed_delivery.status == Delivery.Status.PENDING
    assert failed_delivery.manual_requested is True
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_id) == ("delivery.replay", str(failed_delivery.pk))


def test_replay_on_a_disabled_endpoint_explains_why_not(client_for, member, failed_delivery):
    from deliveries.services.endpoint_lifecycle import endpoint_disable

    endpoint_disable(endpoint=failed_delivery.endpoint, reason="test")

    response = client_for(member).post(
        reverse("delivery-replay", args=[failed_delivery.pk]), follow=True
    )

    assert "enable it before replaying" in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_recover_creates_a_job_and_shows_its_progress(client_for, member, endpoint, tenant):
    client = client_for(member)
    since = (timezone.now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")

    response = client.post(reverse("endpoint-recover", args=[endpoint.pk]), {"since": since})
    job = Job.objects.get()
    page = client.get(response["Location"])
    status = client.get(reverse("job-status", args=[job.pk])).json()

    assert (job.kind, job.tenant, job.endpoint_id) == (Job.Kind.RECOVER, tenant, endpoint.pk)
    assert job.created_by == member
    assert f'data-job-url="{reverse("job-status", args=[job.pk])}"' in page.content.decode()
    assert status["status"] == "queued"
    assert AuditEntry.objects.get().action == "endpoint.recover"


def test_recover_from_the_future_is_refused(client_for, member, endpoint):
    since = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    response = client_for(member).post(
        reverse("endpoint-recover", args=[endpoint.pk]), {"since": since}, follow=True
    )

    assert "since is in the future." in response.content.decode()
    assert not Job.objects.exists()


def test_support_replay_one_is_audited_against_the_tenant(client_for, staff, other_delivery):
    client_for(staff).post(reverse("support-delivery-replay", args=[other_delivery.pk]))

    other_delivery.refresh_from_db()
    entry = AuditEntry.objects.get()
    assert other_delivery.status == Delivery.Status.PENDING
    assert (entry.action, entry.actor, entry.tenant) == (
        "delivery.replay",
        staff,
        other_delivery.tenant,
    )


def test_support_bulk_replay_of_all_that_match(client_for, staff, other_delivery, failed_delivery):
    client = client_for(staff)
    fields = {"status": "failed", "tenant": "globex", "scope": "all"}
    confirm = client.post(reverse("support-bulk-replay"), fields)

    # First the count and a confirmation; nothing runs yet.
    assert confirm.status_code == 200
    assert 'id="replay-count">1<' in confirm.content.decode()
    assert not Job.objects.exists()
    response = client.post(reverse("support-bulk-replay"), {**fields, "confirmed": "1"})

    job = Job.objects.get()
    assert response["Location"] == reverse("support-job", args=[job.pk])
    assert job.tenant == other_delivery.tenant
    assert job.params == {"filters": {"status": "failed"}}
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_id) == ("delivery.bulk_replay", str(job.pk))


def test_support_bulk_replay_of_selected(client_for, staff, other_delivery, failed_delivery):
    client = client_for(staff)
    fields = {"status": "failed", "scope": "selected", "delivery_ids": [str(other_delivery.pk)]}

    confirm = client.post(reverse("support-bulk-replay"), fields)

    # Replay selected asks first, naming what was selected.
    assert [d.pk for d in confirm.context["selected"]] == [other_delivery.pk]
    assert not Job.objects.exists()
    client.post(reverse("support-bulk-replay"), {**fields, "confirmed": "1"})

    job = Job.objects.get()
    assert job.tenant is None
    assert job.params == {"filters": {"status": "failed"}, "delivery_ids": [other_delivery.pk]}


def test_support_bulk_replay_of_nothing_selected_is_refused(client_for, staff, other_delivery):
    response = client_for(staff).post(
        reverse("support-bulk-replay"), {"status": "failed", "scope": "selected"}, follow=True
    )

    assert "Select at least one delivery" in response.content.decode()
    assert not Job.objects.exists()


def test_audit_page_lists_entries_for_staff(client_for, staff, member, failed_delivery):
    client_for(member).post(reverse("delivery-replay", args=[failed_delivery.pk]))

    html = client_for(staff).get(reverse("support-audit"), {"tenant": "acme"}).content.decode()

    assert "delivery.replay" in html
    assert "alice" in html


def test_rate_limit_is_set_from_the_form(client_for, member, tenant):
    response = client_for(member).post(
        reverse("endpoint-create"),
        {"url": "http://127.0.0.1:9/limited", "rate_limit": "20", "enabled": "on"},
    )

    assert response.status_code == 302
    assert Endpoint.objects.get(tenant=tenant).rate_limit == 20


def test_an_open_circuit_shows_on_the_endpoint_pages(client_for, member, endpoint):
    Endpoint.objects.filter(pk=endpoint.pk).update(circuit_state="open")

    listing = client_for(member).get(reverse("endpoint-list")).content.decode()
    detail = client_for(member).get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()

    assert "Circuit open" in listing
    assert "Circuit open since" in detail


def test_channels_are_set_and_shown_on_the_endpoint_page(client_for, member, endpoint):
    from django.urls import reverse

    client = client_for(member)
    response = client.post(
        reverse("endpoint-edit", args=[endpoint.pk]),
        {"url": endpoint.url, "channels": "eu, project_42", "enabled": "on"},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.channels == ["eu", "project_42"]
    page = client.get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()
    assert "project_42" in page

    bad = client.post(
        reverse("endpoint-edit", args=[endpoint.pk]),
        {"url": endpoint.url, "channels": "not a channel", "enabled": "on"},
    )
    assert bad.status_code == 200
    assert "is not a channel name" in bad.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.channels == ["eu", "project_42"]


def test_audit_details_are_readable_and_targets_linked(client_for, staff, tenant, failed_delivery):
    from endpoints.services import audit_record

    audit_record(
        action="delivery.replay",
        actor=staff,
        tenant=tenant,
        target=failed_delivery,
        details={"reason": "receiver fixed", "ids": [3, 4], "bulk": False, "scope": {"a": 1}},
    )

    html = client_for(staff).get(reverse("support-audit"), {"tenant": "acme"}).content.decode()

    assert reverse("support-delivery-detail", args=[failed_delivery.pk]) in html
    assert "receiver fixed" in html
    assert "3, 4" in html
    assert '{"a": 1}' in html.replace("&quot;", '"')
    assert "{&#x27;" not in html  # no Python repr of a dict


def test_create_and_changes_are_audited_readably_and_an_unresolved_host_is_said(
    client_for, member, tenant, invoice_paid, user_created, dns
):
    dns["hooks.acme.test"] = ["93.184.216.34"]
    client = client_for(member)
    created = client.post(
        reverse("endpoint-create"),
        {
            "url": "https://not-yet.acme.test/hook",
            "event_types": ["invoice.paid"],
            "headers": "X-Api-Key: abc",
            "enabled": "on",
        },
        follow=True,
    )
    endpoint = Endpoint.objects.get(tenant=tenant)
    assert "not-yet.acme.test does not resolve right now" in created.content.decode()

    saved = client.post(
        reverse("endpoint-edit", args=[endpoint.pk]),
        {
            "url": "https://hooks.acme.test/hook",
            "event_types": ["user.created"],
            "headers": "X-Api-Key: [redacted]\nX-Team: billing",
            "enabled": "on",
        },
        follow=True,
    )
    assert "does not resolve" not in saved.content.decode()

    create, update = AuditEntry.objects.order_by("id")
    assert (create.action, create.target_id, create.actor) == (
        "endpoint.create",
        endpoint.pk,
        member,
    )
    assert create.details == {
        "url": "https://not-yet.acme.test/hook",
        "event_types": ["invoice.paid"],
    }
    assert update.action == "endpoint.update"
    assert update.details == {
        "url": "https://not-yet.acme.test/hook → https://hooks.acme.test/hook",
        "event_types": {"added": ["user.created"], "removed": ["invoice.paid"]},
        "headers": {"added": ["X-Team"]},
    }
    assert "abc" not in str(update.details)


def test_revealing_the_secret_is_audited_without_it(client_for, member, endpoint):
    from endpoints.services import endpoint_secret_current

    client_for(member).post(
        reverse("endpoint-secret", args=[endpoint.pk]), HTTP_ACCEPT="application/json"
    )

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_id, entry.details) == (
        "endpoint.secret_reveal",
        endpoint.pk,
        {},
    )
    assert endpoint_secret_current(endpoint=endpoint) not in str(entry.__dict__)


def test_the_audit_log_links_an_endpoint_to_its_tenants_support_page(
    client_for, member, staff, endpoint, tenant
):
    client_for(member).post(reverse("endpoint-toggle", args=[endpoint.pk]))

    page = client_for(staff).get(reverse("support-audit")).content.decode()

    assert f'href="{reverse("support-tenant", args=[tenant.slug])}#endpoint-{endpoint.pk}"' in page


def test_signature_style_is_set_from_the_form_and_audited(client_for, member, tenant):
    client = client_for(member)
    created = client.post(
        reverse("endpoint-create"),
        {"url": "http://127.0.0.1:9/styled", "signature_style": "github", "enabled": "on"},
    )
    endpoint = Endpoint.objects.get(tenant=tenant)
    edit = reverse("endpoint-edit", args=[endpoint.pk])
    page = client.get(edit).content.decode()

    changed = client.post(edit, {"url": endpoint.url, "signature_style": "stripe", "enabled": "on"})
    refused = client.post(edit, {"url": endpoint.url, "signature_style": "paypal", "enabled": "on"})

    assert created.status_code == 302
    assert '<option value="github" selected>' in page
    assert changed.status_code == 302
    assert refused.status_code == 200
    assert "paypal is not one of the available choices" in refused.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.signature_style == "stripe"
    entry = AuditEntry.objects.filter(target_id=endpoint.pk, action="endpoint.update").latest("id")
    assert "signature_style" in str(entry.details)


def test_an_ed25519_endpoints_reveal_shows_the_public_key(client_for, member, tenant):
    endpoint, public_key = endpoint_create(
        tenant=tenant, url="http://127.0.0.1:9/x", signature_style="ed25519"
    )
    client = client_for(member)

    page = client.get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()
    revealed = client.post(
        reverse("endpoint-secret", args=[endpoint.pk]), HTTP_ACCEPT="application/json"
    ).json()

    assert "Public key" in page
    assert "WEBHOOK_PUBLIC_KEY" in page
    assert revealed == {"secret": public_key}
    assert public_key.startswith("whpk_")


def test_a_payload_filter_is_set_from_the_form_and_bad_json_is_explained(
    client_for, member, tenant
):
    client = client_for(member)
    spec = {"data.currency": {"$in": ["EUR"]}}
    created = client.post(
        reverse("endpoint-create"),
        {"url": "http://127.0.0.1:9/f", "filter": json.dumps(spec), "enabled": "on"},
    )
    endpoint = Endpoint.objects.get(tenant=tenant)
    edit = reverse("endpoint-edit", args=[endpoint.pk])
    not_json = client.post(edit, {"url": endpoint.url, "filter": "{oops", "enabled": "on"})
    bad = client.post(edit, {"url": endpoint.url, "filter": '{"a": {"$x": 1}}', "enabled": "on"})
    # A post without the field (an older page, a script) leaves the filter as it is.
    kept = client.post(edit, {"url": endpoint.url, "enabled": "on"})

    assert created.status_code == 302
    assert "Not JSON" in not_json.content.decode()
    assert "unknown operator" in bad.content.decode()
    assert kept.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.payload_filter == spec
    cleared = client.post(edit, {"url": endpoint.url, "filter": "", "enabled": "on"})
    assert cleared.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.payload_filter is None
    changes = AuditEntry.objects.filter(target_id=endpoint.pk, action="endpoint.update")
    assert any("filter" in str(e.details) for e in changes)


def test_the_filter_test_page_shows_what_a_filter_decides_on_recent_events(
    client_for, member, tenant, invoice_paid
):
    endpoint, _ = endpoint_create(
        tenant=tenant, url="http://127.0.0.1:9/f", payload_filter={"data.amount": {"$gt": 10}}
    )
    for amount in (5, 50, "lots"):
        publish_event(tenant, "invoice.paid", {"amount": amount})
    client = client_for(member)
    url = reverse("endpoint-filter-test", args=[endpoint.pk])

    stored = client.get(url)
    other = client.get(url, {"filter": '{"data.amount": 5}'})
    broken = client.get(url, {"filter": '{"data.amount": {"$nope": 1}}'})

    verdicts = [v["verdict"] for v in stored.context["verdicts"]]
    assert verdicts == ["cannot evaluate", "match", "no match"]  # newest first
    assert "$gt needs a number" in stored.content.decode()
    assert [v["verdict"] for v in other.context["verdicts"]] == ["no match", "no match", "match"]
    assert "unknown operator" in broken.content.decode()
    assert broken.context["verdicts"] == []
    endpoint.refresh_from_db()
    assert endpoint.payload_filter == {"data.amount": {"$gt": 10}}


def test_a_retry_schedule_is_set_from_the_form_in_durations_and_explained_when_wrong(
    client_for, member, tenant
):
    client = client_for(member)
    form = client.get(reverse("endpoint-create")).content.decode()
    created = client.post(
        reverse("endpoint-create"),
        {"url": "http://127.0.0.1:9/r", "retry_schedule": "30s, 10m, 2h", "enabled": "on"},
    )
    endpoint = Endpoint.objects.get(tenant=tenant)
    edit = reverse("endpoint-edit", args=[endpoint.pk])
    shown = client.get(edit).content.decode()
    bad = client.post(edit, {"url": endpoint.url, "retry_schedule": "5s, later", "enabled": "on"})
    kept = client.post(edit, {"url": endpoint.url, "enabled": "on"})  # an older page
    detail = client.get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()

    assert 'placeholder="the platform\'s: 5s, 5m, 30m, 2h, 5h, 10h, 10h"' in form
    assert created.status_code == 302
    assert 'value="30s, 10m, 2h"' in shown
    assert "Retry 2: &#x27;later&#x27; is not a duration" in bad.content.decode()
    assert kept.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.retry_schedule == [30, 600, 7200]
    assert "Retry schedule (its own):</span> 30s, 10m, 2h" in detail
    single = client.post(edit, {"url": endpoint.url, "retry_schedule": "none", "enabled": "on"})
    assert single.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.retry_schedule == []
    client.post(edit, {"url": endpoint.url, "retry_schedule": "", "enabled": "on"})
    endpoint.refresh_from_db()
    assert endpoint.retry_schedule is None


def test_ordered_is_set_from_the_form_and_an_older_page_leaves_it(client_for, member, tenant):
    client = client_for(member)
    client.post(
        reverse("endpoint-create"),
        {"url": "http://127.0.0.1:9/o", "ordered": "on", "ordered_shown": "1", "enabled": "on"},
    )
    endpoint = Endpoint.objects.get(tenant=tenant)
    edit = reverse("endpoint-edit", args=[endpoint.pk])
    assert endpoint.ordered is True
    assert (
        'id="id_ordered" aria-describedby="ordered-help" checked'
        in client.get(edit).content.decode()
    )
    detail = client.get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()
    assert 'id="ordered"' in detail

    client.post(edit, {"url": endpoint.url, "enabled": "on"})  # a page without the box
    endpoint.refresh_from_db()
    assert endpoint.ordered is True
    client.post(edit, {"url": endpoint.url, "enabled": "on", "ordered_shown": "1"})  # unticked
    endpoint.refresh_from_db()
    assert endpoint.ordered is False


def test_a_poll_endpoint_is_made_from_the_form_and_its_page_shows_the_feed(
    client_for, member, tenant, invoice_paid
):
    from deliveries import publish_event
    from deliveries.feed import consumer_read
    from deliveries.services.fanout import events_fan_out_pending

    client = client_for(member)
    no_url = client.post(reverse("endpoint-create"), {"kind": "push", "enabled": "on"})
    created = client.post(reverse("endpoint-create"), {"kind": "poll", "enabled": "on"})
    endpoint = Endpoint.objects.get(tenant=tenant)
    for n in range(3):
        publish_event(tenant, "invoice.paid", {"n": n})
    events_fan_out_pending(tenant_id=tenant.pk)
    consumer_read(endpoint=endpoint, name="billing", limit=1)
    page = client.get(reverse("endpoint-detail", args=[endpoint.pk])).content.decode()

    assert "A push endpoint needs the URL" in no_url.content.decode()
    assert created.status_code == 302
    assert endpoint.kind == "poll"
    assert endpoint.url == ""
    assert 'id="feed"' in page
    assert f"/api/v1/tenants/acme/pollers/{endpoint.pk}/" in page
    # billing read one of three but acknowledged nothing: all three still ahead of it.
    assert '<td class="mono">billing</td><td>0</td><td>3</td>' in page


def test_a_poll_endpoint_with_the_twilio_style_is_refused_by_the_form(client_for, member, tenant):
    client = client_for(member)

    response = client.post(
        reverse("endpoint-create"),
        {"kind": "poll", "enabled": "on", "signature_style": "twilio"},
    )

    assert response.status_code == 200
    assert "The twilio style signs over the endpoint&#x27;s URL" in response.content.decode()
    assert not Endpoint.objects.filter(tenant=tenant).exists()
