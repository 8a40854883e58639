"""The tenant portal and the support console in a real browser, against real HTTP on 127.0.0.1.

No worker runs here: where the product would hand work to Celery, the test calls the same
services the tasks call (fan-out, send, job run) right after the click, against the `receiver`
fixture's HTTP server. The page then shows what happened by its own polling.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from deliveries.models import Delivery, Event, Job
from deliveries.services.endpoint_lifecycle import endpoint_update
from deliveries.services.fanout import event_fan_out
from deliveries.services.jobs import job_run
from endpoints.models import Endpoint
from endpoints.portal import portal_link
from endpoints.services import endpoint_create, endpoint_secret_current, headers_open
from tests.e2e.conftest import clean_broker, e2e_settings  # noqa: F401  (shared fixtures)
from tests.engine import deliver_due

from ..conftest import make_delivery, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def _deliver_pending(event: Event | None = None) -> list[int]:
    """What the workers would do: fan out (if an event is given), then send what is due."""
    if event is not None:
        event_fan_out(event_id=event.pk)
    ids = list(Delivery.objects.filter(status="pending").values_list("id", flat=True))
    deliver_due()
    return ids


def test_sign_in_and_create_an_endpoint(page, sign_in, shot, tenant, invoice_paid, settings):
    make_user("alice", tenants=(tenant,))
    settings.WEBHOOKS_ALLOWED_SUBNETS = []

    sign_in("alice")
    expect(page).to_have_url(re.compile(r"/endpoints/$"))
    expect(page.locator(".empty")).to_contain_text("No endpoints yet")
    shot("endpoints-empty")
    page.click("text=Add endpoint")
    page.fill("#id_url", "http://127.0.0.1:9/hook")
    page.fill("#id_description", "billing service")
    page.check("input[name=event_types][value='invoice.paid']")
    page.fill("#id_headers", "X-Api-Key: abc123")
    page.click("text=Create endpoint")

    expect(page.locator("#url-errors")).to_have_text("127.0.0.1 is a loopback address")
    expect(page.locator("#id_description")).to_have_value("billing service")
    shot("endpoint-form-error")
    assert not Endpoint.objects.exists()

    settings.WEBHOOKS_ALLOWED_SUBNETS = ["127.0.0.0/8"]
    page.click("text=Create endpoint")

    expect(page.locator("#endpoint-url")).to_have_text("http://127.0.0.1:9/hook")
    expect(page.locator(".messages")).to_contain_text("Endpoint created")
    endpoint = Endpoint.objects.get()
    assert headers_open(endpoint.headers) == {"X-Api-Key": "abc123"}
    assert [t.name for t in endpoint.event_types.all()] == ["invoice.paid"]
    page.click("nav >> text=Endpoints")
    expect(page.locator("#endpoints")).to_contain_text("invoice.paid")
    shot("endpoints")


def test_reveal_copy_and_rotate_the_secret(page, sign_in, shot, tenant, invoice_paid):
    make_user("alice", tenants=(tenant,))
    endpoint, secret = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/hook")
    sign_in("alice")
    page.goto(f"/endpoints/{endpoint.pk}/")

    secret_box = page.locator("#secret-value")
    expect(secret_box).not_to_contain_text(secret)
    expect(page.locator("#secret button[data-copy-target]")).to_be_hidden()
    page.click("#secret >> text=Reveal")
    expect(secret_box).to_have_text(secret)
    page.click("#secret >> button:has-text('Copy')")
    expect(page.locator("#secret >> button[data-copy-target]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shot("endpoint-secret-revealed")

    page.select_option("#grace", "3600")
    page.click("#secret >> text=Rotate")
    expect(page.locator("#rotate-until")).to_be_visible()  # asks first, saying until when
    shot("endpoint-secret-rotate-confirm")
    page.click("text=Rotate the secret")
    expect(page.locator(".messages")).to_contain_text("previous secret keeps signing until")
    expect(page.locator("#old-secret")).to_be_visible()
    page.click("#secret >> text=Reveal")
    new_secret = endpoint_secret_current(endpoint=endpoint)
    expect(secret_box).to_have_text(new_secret)
    assert new_secret != secret


def test_send_a_test_event_and_watch_the_attempt_arrive(
    page, sign_in, shot, tenant, invoice_paid, receiver
):
    make_user("alice", tenants=(tenant,))
    endpoint, secret = endpoint_create(
        tenant=tenant, url=receiver.url("/ok"), event_types=["invoice.paid"]
    )
    sign_in("alice")
    page.goto(f"/endpoints/{endpoint.pk}/")

    page.click("text=Send test event")
    expect(page.locator(".messages")).to_contain_text("Test event")
    _deliver_pending(Event.objects.get())

    # No reload: the page re-fetches its "recent deliveries" table while it waits.
    row = page.locator("#recent tr[data-delivery]")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("succeeded")
    (request,) = receiver.received("/ok")
    assert request.headers["webhook-id"] == Event.objects.get().pk
    assert request.headers["webhook-signature"].startswith("v1,")
    page.reload()
    expect(page.locator(".chart rect.ok")).to_have_count(2)
    shot("endpoint-detail")

    row.locator("a").first.click()
    expect(page.locator("#delivery-status")).to_have_text("succeeded")
    shot("delivery-detail")
    page.click("text=Attempt 1")
    expect(page.locator("#attempt-status")).to_have_text("HTTP 200")
    expect(page.locator("#request")).to_contain_text(receiver.url("/ok"))
    expect(page.locator("#body-sent")).to_contain_text('"type":"invoice.paid"')
    expect(page.locator("#response")).to_contain_text("x-receiver")
    shot("attempt-detail")


def test_find_a_failed_delivery_and_replay_it(
    page, sign_in, shot, tenant, invoice_paid, receiver, settings
):
    settings.WEBHOOKS_RETRY_SCHEDULE = []
    make_user("alice", tenants=(tenant,))
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/status/500"))
    sign_in("alice")
    page.goto(f"/endpoints/{endpoint.pk}/")
    page.click("text=Send test event")
    (delivery_id,) = _deliver_pending(Event.objects.get())
    assert Delivery.objects.get(pk=delivery_id).status == Delivery.Status.FAILED

    page.click("nav >> text=Deliveries")
    page.select_option("#id_status", "failed")
    page.click("#log-filters >> text=Filter")
    expect(page.locator("tr[data-delivery]")).to_have_count(1)
    expect(page.locator("tr[data-delivery]")).to_contain_text("HTTP 500")
    shot("delivery-log-failed")
    page.click(f"text=#{delivery_id}")
    expect(page.locator("#delivery-status")).to_have_text("failed")

    # The receiver is fixed, then support's favourite button:
    endpoint_update(endpoint=endpoint, url=receiver.url("/ok"))
    page.click("button:has-text('Replay')")
    expect(page.locator(".messages")).to_contain_text("Replay queued")
    expect(page.locator("#delivery-status")).to_have_text("pending")
    _deliver_pending()

    # No reload: the page follows the delivery while it moves.

    expect(page.locator("#delivery-status")).to_have_text("succeeded")
    expect(page.locator("#attempts tbody tr")).to_have_count(2)
    expect(page.locator("#attempts tbody tr").nth(1)).to_contain_text("manual")
    assert len(receiver.received("/ok")) == 1


def test_recover_shows_job_progress(page, sign_in, tenant, invoice_paid, receiver):
    from datetime import timedelta

    from django.utils import timezone

    make_user("alice", tenants=(tenant,))
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    for _ in range(2):
        make_delivery(endpoint, invoice_paid, created_at=timezone.now() - timedelta(minutes=30))
    sign_in("alice")
    page.goto(f"/endpoints/{endpoint.pk}/")

    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#recover-since", since)
    page.click("#recover >> xpath=following::button[text()='Recover'][1]")
    expect(page.locator("#job-progress [data-job-status]")).to_have_text("queued")
    job_run(job_id=Job.objects.get().pk)

    # Everything looked at, but the replays are still on their way: not "succeeded" yet.
    expect(page.locator("#job-progress [data-job-status]")).to_have_text("sending")
    expect(page.locator("#job-progress [data-job-text]")).to_have_text(
        "2 of 2 looked at: 2 in progress"
    )
    deliver_due()

    expect(page.locator("#job-progress [data-job-status]")).to_have_text("succeeded")
    expect(page.locator("#job-progress [data-job-text]")).to_have_text(
        "2 of 2 looked at: 2 delivered"
    )


def test_the_header_follows_the_circuit_closing(page, sign_in, tenant, invoice_paid, receiver):
    from datetime import timedelta

    from django.utils import timezone

    make_user("alice", tenants=(tenant,))
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    waiting = make_delivery(endpoint, invoice_paid, status=Delivery.Status.PENDING)
    Delivery.objects.filter(pk=waiting.pk).update(next_attempt_at=timezone.now())
    Endpoint.objects.filter(pk=endpoint.pk).update(
        circuit_state="open",
        circuit_opened_at=timezone.now() - timedelta(minutes=5),
        circuit_next_probe_at=timezone.now() - timedelta(seconds=1),
    )
    sign_in("alice")
    page.goto(f"/endpoints/{endpoint.pk}/")
    expect(page.locator("#endpoint-state")).to_contain_text("Circuit open")

    deliver_due()  # the probe goes out, succeeds, and closes the circuit

    expect(page.locator("#endpoint-state")).to_have_text("Enabled")
    expect(page.locator("tr[data-delivery]")).to_contain_text("succeeded")


def test_a_typed_url_of_another_tenant_is_not_found(
    page, sign_in, shot, tenant, other_tenant, invoice_paid
):
    make_user("alice", tenants=(tenant,))
    theirs, _ = endpoint_create(tenant=other_tenant, url="http://127.0.0.1:9/globex")
    delivery = make_delivery(theirs, invoice_paid)
    sign_in("alice")

    endpoint_page = page.goto(f"/endpoints/{theirs.pk}/")
    shot("not-found")
    delivery_page = page.goto(f"/deliveries/{delivery.pk}/")

    assert endpoint_page.status == 404
    assert delivery_page.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator("body")).not_to_contain_text("globex")


def test_a_portal_link_opens_the_portal_without_a_password(page, shot, tenant, invoice_paid):
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/hook")

    page.goto(portal_link(tenant, expires_in=600))
    expect(page).to_have_url(re.compile(r"/portal/enter/$"))  # the key left the address bar
    page.click("[data-testid=portal-continue]")
    expect(page.locator("h1")).to_have_text("Webhooks portal for Acme")
    page.click("[data-testid=portal-open]")

    expect(page).to_have_url(re.compile(r"/endpoints/$"))
    expect(page.locator("[data-testid=tenant-name]")).to_have_text("Acme")
    expect(page.locator("#endpoints")).to_contain_text(endpoint.url)
    page.click("nav >> text=Event catalogue")
    expect(page.locator("#type-invoice\\.paid")).to_contain_text("An invoice was paid.")
    shot("catalogue")
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/login/$"))


def test_an_admin_hands_out_a_read_only_link_and_revokes_it(
    page, sign_in, shot, browser, live_server, tenant, invoice_paid
):
    from .conftest import open_page

    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/hook")
    make_user("alice", tenants=(tenant,))
    sign_in("alice")
    page.click("nav >> text=Settings")
    page.click("text=Manage portal links")
    page.select_option("#expires_in", label="8 hours")
    page.check("input[name=read_only]")
    page.click("text=Make link")
    expect(page.locator("[data-testid=new-portal-link]")).to_contain_text("read-only")
    link = page.locator("[data-testid=portal-link-url]").inner_text()
    shot("portal-link-made")

    visitors = open_page(browser, live_server)
    visitor = next(visitors)
    visitor.goto(link)
    visitor.click("[data-testid=portal-continue]")
    expect(visitor.locator(".panel")).to_contain_text("read-only")
    visitor.click("[data-testid=portal-open]")
    expect(visitor.locator("[data-testid=read-only]")).to_have_text("read-only")
    expect(visitor.locator("#endpoints")).to_contain_text(endpoint.url)
    expect(visitor.locator("text=Add endpoint")).to_have_count(0)

    page.reload()  # shows the list again, and makes no second link
    expect(page.locator("[data-testid=new-portal-link]")).to_have_count(0)
    expect(page.locator("#portal-links tbody tr")).to_have_count(1)
    expect(page.locator("#portal-links")).to_contain_text("read-only")
    page.click("#portal-links >> text=Revoke")
    expect(page.locator(".messages")).to_contain_text("revoked")

    visitor.reload()
    expect(visitor.locator("h1")).to_contain_text("was revoked")
    next(visitors, None)


def test_support_bulk_replays_failed_deliveries_with_progress(
    page, sign_in, shot, tenant, other_tenant, invoice_paid, receiver
):
    make_user("sam", is_staff=True)
    ours, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    theirs, _ = endpoint_create(tenant=other_tenant, url=receiver.url("/ok"))
    failed = [make_delivery(ours, invoice_paid) for _ in range(2)] + [
        make_delivery(theirs, invoice_paid)
    ]
    make_delivery(ours, invoice_paid, status="succeeded", response_status=200)
    ours.failing_since = failed[0].created_at
    ours.save()
    sign_in("sam")

    expect(page).to_have_url(re.compile(r"/support/$"))
    expect(page.locator("#attention")).to_contain_text(ours.url)
    shot("support-home")
    page.click("nav >> text=Failed deliveries")
    expect(page.locator("tr[data-delivery]")).to_have_count(3)
    shot("support-deliveries")
    page.click("#replay-all")
    expect(page.locator("#replay-count")).to_have_text("3")
    page.click("#confirm")

    expect(page).to_have_url(re.compile(r"/support/jobs/\d+/$"))
    expect(page.locator("[data-job-status]")).to_have_text("queued")
    job_run(job_id=Job.objects.get().pk)
    expect(page.locator("[data-job-status]")).to_have_text("sending")
    expect(page.locator("[data-job-text]")).to_have_text("3 of 3 looked at: 3 in progress")
    expect(page.locator(".job .bar > div")).to_have_attribute("style", "width: 100%;")
    shot("support-job")
    _deliver_pending()
    expect(page.locator("[data-job-status]")).to_have_text("succeeded")
    expect(page.locator("[data-job-text]")).to_have_text("3 of 3 looked at: 3 delivered")
    assert len(receiver.received("/ok")) == 3
    assert set(Delivery.objects.values_list("status", flat=True)) == {"succeeded"}

    page.click("nav >> text=Audit")
    expect(page.locator("#audit")).to_contain_text("delivery.bulk_replay")
    expect(page.locator("#audit")).to_contain_text("sam")
    shot("support-audit")


def test_support_replays_one_selected_delivery(page, sign_in, tenant, invoice_paid, receiver):
    make_user("sam", is_staff=True)
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    first, second = make_delivery(endpoint, invoice_paid), make_delivery(endpoint, invoice_paid)
    sign_in("sam")
    page.goto("/support/deliveries/")

    page.locator(f"tr[data-delivery='{second.pk}'] button:has-text('Replay')").click()

    expect(page.locator(".messages")).to_contain_text(f"Replay of delivery {second.pk} queued")
    second.refresh_from_db()
    first.refresh_from_db()
    assert (first.status, second.status) == ("failed", "pending")
    expect(page.locator("tr[data-delivery]")).to_have_count(1)


def test_the_console_refuses_a_tenant_member(page, sign_in, tenant):
    make_user("alice", tenants=(tenant,))
    sign_in("alice")

    response = page.goto("/support/")

    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")


@pytest.mark.e2e
@pytest.mark.usefixtures("e2e_settings", "clean_broker")
def test_after_an_outage_a_replay_arrives_within_seconds(
    page, sign_in, shot, tenant, invoice_paid, receiver, tmp_path
):
    """A real worker sends to a receiver that is down until the circuit opens (its next probe
    hours away); the receiver comes back, a person presses Replay, and the delivery arrives at
    once: a person's action is the probe, it does not wait behind the circuit."""
    import json
    import time

    from deliveries import publish_event
    from tests.workers import start_worker, worker_env

    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/status/500"))
    # Each failure waits a minute for its retry, and so does the circuit's first probe: nothing
    # but the person's Replay can send the delivery during the test.
    worker = start_worker(
        tmp_path,
        env=worker_env(WEBHOOKS_CIRCUIT_FAILURE_THRESHOLD="3", WEBHOOKS_RETRY_SCHEDULE="60"),
    )
    try:
        for n in range(3):
            publish_event(tenant, "invoice.paid", {"n": n})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            endpoint.refresh_from_db()
            if endpoint.circuit_state == "open":
                break
            time.sleep(0.2)
        assert endpoint.circuit_state == "open", worker.output()[-3000:]
        endpoint_update(endpoint=endpoint, url=receiver.url("/ok"))  # the outage is over

        make_user("alice", tenants=(tenant,))
        sign_in("alice")
        page.goto(f"/endpoints/{endpoint.pk}/")
        expect(page.locator("body")).to_contain_text("Retry now")
        waiting = Delivery.objects.filter(endpoint=endpoint).order_by("id").first()
        page.goto(f"/deliveries/{waiting.pk}/")
        pressed = time.monotonic()
        page.click("button:has-text('Replay')")
        expect(page.locator(".messages")).to_contain_text("Replay queued")

        # The replay is the probe: it arrives at once, closes the circuit, and what waited
        # behind it follows.
        arrived = receiver.wait_for(3, "/ok", timeout=15)
        took = time.monotonic() - pressed
        assert took < 10, f"the replay and the backlog took {took:.1f} s"
        assert sorted(json.loads(r.body)["data"]["n"] for r in arrived) == [0, 1, 2]
        endpoint.refresh_from_db()
        assert endpoint.circuit_state == "closed"
        page.reload()
        expect(page.locator("#delivery-status")).to_have_text("succeeded")
        shot("replay-after-outage")
    finally:
        worker.stop()
