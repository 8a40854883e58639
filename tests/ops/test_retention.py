"""The retention purge: what goes, what stays, dry run, payload-only purge, the command."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from deliveries.models import Attempt, Delivery, Event
from deliveries.services.retention import retention_purge
from endpoints.services import endpoint_create

pytestmark = pytest.mark.django_db

OLD = timedelta(days=40)
RECENT = timedelta(days=10)
NEW = timedelta(hours=1)


def _counts() -> tuple[int, int, int]:
    return Event.objects.count(), Delivery.objects.count(), Attempt.objects.count()


def test_old_finished_deliveries_go_with_their_attempts_and_events(make_delivery):
    succeeded = make_delivery(age=OLD, attempts=1)
    failed = make_delivery(age=OLD, status=Delivery.Status.FAILED, attempts=3)
    cancelled = make_delivery(age=OLD, status=Delivery.Status.CANCELLED, attempts=0)
    kept = make_delivery(age=NEW, attempts=2)

    report = retention_purge()

    assert report.deliveries_deleted == 3
    assert report.attempts_deleted == 4
    assert report.events_deleted == 3
    assert not Delivery.objects.filter(pk__in=[succeeded.pk, failed.pk, cancelled.pk]).exists()
    assert not Event.objects.filter(
        pk__in=[succeeded.event_id, failed.event_id, cancelled.event_id]
    ).exists()
    assert list(Delivery.objects.values_list("pk", flat=True)) == [kept.pk]
    assert Attempt.objects.filter(delivery=kept).count() == 2
    assert _counts() == (1, 1, 2)


def test_pending_and_sending_deliveries_survive_with_their_event_and_attempts(make_delivery):
    pending = make_delivery(age=OLD, status=Delivery.Status.PENDING, attempts=4)
    sending = make_delivery(age=OLD, status=Delivery.Status.SENDING, attempts=2)
    make_delivery(age=OLD, attempts=1)

    report = retention_purge()

    assert report.deliveries_deleted == 1
    assert report.attempts_deleted == 1
    assert report.events_deleted == 1
    assert set(Delivery.objects.values_list("pk", flat=True)) == {pending.pk, sending.pk}
    assert set(Event.objects.values_list("pk", flat=True)) == {pending.event_id, sending.event_id}
    assert Attempt.objects.filter(delivery=pending).count() == 4
    assert Attempt.objects.filter(delivery=sending).count() == 2
    # A pending delivery's event keeps the body it still has to send.
    assert Event.objects.get(pk=pending.event_id).payload == {"n": 1}


def test_an_event_stays_while_any_of_its_deliveries_is_pending(make_delivery, tenant):
    second = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/second")[0]
    done = make_delivery(age=OLD)
    Delivery.objects.create(
        event_id=done.event_id,
        endpoint=second,
        tenant=tenant,
        event_type_id=done.event_type_id,
        status=Delivery.Status.PENDING,
        next_attempt_at=done.created_at,
    )

    report = retention_purge()

    assert report.deliveries_deleted == 1
    assert report.events_deleted == 0
    assert Event.objects.get(pk=done.event_id).payload == {"n": 1}
    assert Delivery.objects.get().endpoint_id == second.pk


def test_dry_run_counts_what_the_purge_does_and_changes_nothing(make_delivery):
    make_delivery(age=OLD, attempts=2)
    make_delivery(age=OLD, status=Delivery.Status.FAILED, attempts=8)
    make_delivery(age=OLD, status=Delivery.Status.PENDING, attempts=1)
    make_delivery(age=NEW, attempts=1)
    before = _counts()
    bodies_before = list(Attempt.objects.order_by("pk").values_list("response_body", flat=True))

    dry = retention_purge(dry_run=True)

    assert _counts() == before
    assert list(Attempt.objects.order_by("pk").values_list("response_body", flat=True)) == (
        bodies_before
    )
    assert dry.dry_run is True
    real = retention_purge()
    assert (dry.deliveries_deleted, dry.attempts_deleted, dry.events_deleted) == (2, 10, 2)
    assert (real.deliveries_deleted, real.attempts_deleted, real.events_deleted) == (2, 10, 2)
    assert _counts() == (before[0] - 2, before[1] - 2, before[2] - 10)


def test_payload_purge_blanks_bodies_but_keeps_metadata_and_pending_payloads(
    make_delivery, settings
):
    settings.WEBHOOKS_RETENTION_DAYS = 30
    settings.WEBHOOKS_PAYLOAD_RETENTION_DAYS = 7
    finished = make_delivery(age=RECENT, attempts=2, response_body="receipt 42")
    retrying = make_delivery(age=RECENT, status=Delivery.Status.PENDING, attempts=1)
    fresh = make_delivery(age=NEW, attempts=1, response_body="fresh")

    dry = retention_purge(dry_run=True)
    report = retention_purge()

    assert (dry.response_bodies_blanked, dry.event_bodies_blanked) == (3, 1)
    assert (report.response_bodies_blanked, report.event_bodies_blanked) == (3, 1)
    assert report.deliveries_deleted == 0
    assert _counts() == (3, 3, 4)
    old_attempts = Attempt.objects.filter(delivery__in=[finished, retrying])
    assert set(old_attempts.values_list("response_body", flat=True)) == {""}
    assert set(old_attempts.values_list("response_status", "duration_ms")) == {(200, 12), (500, 12)}
    assert Event.objects.get(pk=finished.event_id).body == ""
    # Still needed for the next try.
    assert Event.objects.get(pk=retrying.event_id).payload == {"n": 1}
    assert Attempt.objects.get(delivery=fresh).response_body == "fresh"
    assert Event.objects.get(pk=fresh.event_id).payload == {"n": 1}
    # A second run finds nothing left to do.
    again = retention_purge()
    assert (again.response_bodies_blanked, again.event_bodies_blanked) == (0, 0)


def test_the_purge_walks_in_small_chunks_to_the_end(make_delivery):
    for _ in range(7):
        make_delivery(age=OLD, attempts=1)
    make_delivery(age=NEW)

    report = retention_purge(batch_size=2)

    assert (report.deliveries_deleted, report.attempts_deleted, report.events_deleted) == (7, 7, 7)
    assert _counts() == (1, 1, 1)


def test_retention_zero_keeps_everything(make_delivery, settings):
    settings.WEBHOOKS_RETENTION_DAYS = 0
    make_delivery(age=timedelta(days=4000))

    report = retention_purge()

    assert report.deliveries_deleted == report.events_deleted == 0
    assert report.response_bodies_blanked == 0
    assert _counts() == (1, 1, 1)


def test_an_old_event_never_fanned_out_is_kept_for_the_sweeper(make_delivery, tenant):
    delivery = make_delivery(age=OLD)
    Delivery.objects.filter(pk=delivery.pk).delete()
    Event.objects.filter(pk=delivery.event_id).update(fanned_out_at=None)

    report = retention_purge()

    assert report.events_deleted == 0
    assert Event.objects.filter(pk=delivery.event_id).exists()


def test_the_command_reports_counts_and_dry_run_changes_nothing(make_delivery):
    make_delivery(age=OLD, attempts=3)
    make_delivery(age=NEW)

    out = StringIO()
    call_command("purge_webhooks", "--dry-run", stdout=out)
    assert _counts() == (2, 2, 4)
    assert "deliveries deleted: 1" in out.getvalue()
    assert "attempts deleted: 3" in out.getvalue()
    assert "5 rows would be changed." in out.getvalue()

    out = StringIO()
    call_command("purge_webhooks", stdout=out)
    assert "events deleted: 1" in out.getvalue()
    assert "5 rows were changed." in out.getvalue()
    assert _counts() == (1, 1, 1)


def test_stored_idempotent_answers_go_after_twelve_hours():
    from django.utils import timezone

    from endpoints.models import IdempotentResponse

    old = IdempotentResponse.objects.create(key_hash="a" * 64, status=201, body="{}")
    fresh = IdempotentResponse.objects.create(key_hash="b" * 64, status=201, body="{}")
    IdempotentResponse.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=13)
    )

    assert retention_purge(dry_run=True).idempotent_responses_deleted == 1
    assert retention_purge().idempotent_responses_deleted == 1
    assert list(IdempotentResponse.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_portal_links_that_ended_a_month_ago_go(tenant):
    from django.utils import timezone

    from endpoints import portal
    from endpoints.models import PortalLink

    live = portal.portal_link_create(tenant=tenant)[0]
    expired = portal.portal_link_create(tenant=tenant)[0]
    revoked = portal.portal_link_create(tenant=tenant)[0]
    recently_revoked = portal.portal_link_create(tenant=tenant)[0]
    long_ago = timezone.now() - timedelta(days=31)
    PortalLink.objects.filter(pk=expired.pk).update(expires_at=long_ago)
    PortalLink.objects.filter(pk=revoked.pk).update(revoked_at=long_ago)
    portal.portal_link_revoke(recently_revoked)

    assert retention_purge(dry_run=True).portal_links_deleted == 2
    assert retention_purge().portal_links_deleted == 2
    assert set(PortalLink.objects.values_list("pk", flat=True)) == {live.pk, recently_revoked.pk}
