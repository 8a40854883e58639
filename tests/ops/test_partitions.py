"""Attempts partitioned by time on PostgreSQL: the in-place conversion, partitions created ahead,
retention dropping whole partitions while unfinished work (and the bodies it needs) stays, and a
real worker draining while a purge detaches partitions. SQLite keeps row-wise retention."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from deliveries import publish_event
from deliveries.models import Attempt, Delivery, Event
from deliveries.services import partitions
from deliveries.services.retention import retention_purge
from endpoints.models import Endpoint
from endpoints.services import endpoint_create
from tests.engine import deliver_due
from tests.workers import start_worker
from webhooks_platform.celery import app as celery_app

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitioned history is PostgreSQL's"
)


def _weekly_layout() -> None:
    """Replace the (empty) converted table by week partitions from 10 weeks back, as an
    installation that has run for a while has them."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partitions.LEGACY}")  # noqa: S608
        assert cursor.fetchone()[0] == 0
        cursor.execute(f"DROP TABLE {partitions.LEGACY}")
    partitions.partitions_ensure(behind=timedelta(weeks=10))


def _restore_catch_all() -> None:
    """A partition for anything older than the first week (as the converted table is), so later
    tests may write attempts of any age."""
    layout = partitions.partitions_list()
    if layout and layout[0].start is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE {partitions.LEGACY} PARTITION OF {partitions.TABLE} "
                "FOR VALUES FROM (MINVALUE) TO (%s)",
                [layout[0].start],
            )


@pytest.fixture
def weekly(db) -> Iterator[None]:  # type: ignore[no-untyped-def]
    _weekly_layout()
    yield
    _restore_catch_all()


@pytest.fixture
def weekly_committed(transactional_db) -> Iterator[None]:  # type: ignore[no-untyped-def]
    _weekly_layout()
    yield
    _restore_catch_all()


def _retention_to(settings, cutoff: datetime, now: datetime) -> None:  # type: ignore[no-untyped-def]
    """Set the retention so that ``now``'s cutoff falls a second past ``cutoff``."""
    settings.WEBHOOKS_RETENTION_DAYS = (now - cutoff - timedelta(seconds=1)).total_seconds() / 86400


def _names() -> list[str]:
    return [p.name for p in partitions.partitions_list()]


def test_sqlite_keeps_one_table_and_row_wise_retention(make_delivery):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's fallback")
    make_delivery(age=timedelta(days=40), attempts=2)
    assert partitions.partitions_ensure() == []
    assert partitions.partitions_drop_older_than(timezone.now()) == []
    report = retention_purge()
    assert (report.attempts_deleted, report.attempt_partitions_dropped) == (2, 0)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_conversion_keeps_existing_rows_keys_and_sequence(make_delivery):
    call_command("migrate", "deliveries", "0011", verbosity=0)
    assert not partitions.is_partitioned()
    old = make_delivery(age=timedelta(days=3), attempts=3)
    old_ids = set(Attempt.objects.values_list("pk", flat=True))

    call_command("migrate", "deliveries", verbosity=0)

    assert partitions.is_partitioned()
    layout = partitions.partitions_list()
    assert layout[0].name == partitions.LEGACY
    assert layout[0].start is None
    # Partitions ahead, from where the converted table ends.
    assert layout[-1].end > timezone.now() + timedelta(weeks=partitions.AHEAD)
    assert partitions.partitions_ensure() == []
    # The rows stayed where they were: in the old table, now the first partition.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {partitions.LEGACY}")  # noqa: S608
        assert {row[0] for row in cursor.fetchall()} == old_ids
    assert Attempt.objects.filter(delivery=old).count() == 3
    # New attempts take ids past the old ones.
    new = Attempt.objects.create(
        delivery=old, endpoint=old.endpoint, number=4, trigger="manual", started_at=timezone.now()
    )
    assert new.pk > max(old_ids)
    # The foreign keys survived the conversion.
    with pytest.raises(IntegrityError), transaction.atomic():
        Attempt.objects.create(
            delivery_id=old.pk + 1000,
            endpoint=old.endpoint,
            number=1,
            trigger="manual",
            started_at=timezone.now(),
        )
    # And the way back is a plain table again with every row.
    call_command("migrate", "deliveries", "0011", verbosity=0)
    assert not partitions.is_partitioned()
    assert set(Attempt.objects.values_list("pk", flat=True)) == old_ids | {new.pk}
    call_command("migrate", "deliveries", verbosity=0)
    assert Attempt.objects.count() == 4


@postgres_only
def test_partitions_are_created_ahead_once(weekly):
    now = timezone.now()
    before = _names()
    assert partitions.partitions_ensure(now=now) == []
    later = partitions.partitions_ensure(now=now + timedelta(weeks=3))
    assert later == [
        partitions.partition_name(
            partitions.span_start(now) + (partitions.AHEAD + k) * partitions.SPAN
        )
        for k in (1, 2, 3)
    ]
    assert _names() == before + later
    assert partitions.partitions_ensure(now=now + timedelta(weeks=3)) == []


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_retention_drops_old_partitions_and_keeps_unfinished_work(
    weekly_committed, make_delivery, settings, receiver, tenant
):
    """Pending (retrying), held, scheduled and sending deliveries whose attempts sit in the week
    about to be dropped keep their rows and event bodies, and are still sent afterwards."""
    now = timezone.now()
    doomed = partitions.span_start(now - timedelta(weeks=6))
    cutoff = doomed + partitions.SPAN
    inside = now - (doomed + timedelta(days=3))  # an age inside the doomed week
    near = now - (cutoff + timedelta(hours=1))  # an age just inside the week after it
    target = endpoint_create(tenant=tenant, url=receiver.url("/hook"))[0]

    finished = make_delivery(age=inside, attempts=2)
    retrying = make_delivery(age=inside, status=Delivery.Status.PENDING, attempts=2, to=target)
    held = make_delivery(age=inside, status=Delivery.Status.HELD, attempts=1)
    scheduled = make_delivery(age=inside, status=Delivery.Status.PENDING, attempts=0)
    later_at = timezone.now() + timedelta(days=2)
    Delivery.objects.filter(pk=scheduled.pk).update(next_attempt_at=later_at)
    Event.objects.filter(pk=scheduled.event_id).update(deliver_at=later_at)
    sending = make_delivery(age=inside, status=Delivery.Status.SENDING, attempts=1)
    Delivery.objects.filter(pk=held.pk).update(finished_at=None)
    kept_finished = make_delivery(age=near, attempts=1)
    doomed_name = partitions.partition_name(doomed)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {doomed_name}")  # noqa: S608
        assert cursor.fetchone()[0] == 2 + 2 + 1 + 1
    unfinished = [retrying, held, scheduled, sending]
    before = _names()

    _retention_to(settings, cutoff, now)
    report = retention_purge(now=now)

    assert doomed_name not in _names()
    assert partitions.partition_name(cutoff) in _names()
    # The doomed week and the older ones.
    assert report.attempt_partitions_dropped == len([n for n in before if n <= doomed_name])
    assert report.deliveries_deleted == 1  # the old finished one, row by row
    assert set(Delivery.objects.values_list("pk", flat=True)) == {
        d.pk for d in [*unfinished, kept_finished]
    }
    for d in unfinished:
        event = Event.objects.get(pk=d.event_id)
        assert event.payload == {"n": 1}, d.status
        assert Delivery.objects.get(pk=d.pk).status == d.status
    assert not Event.objects.filter(pk=finished.event_id).exists()
    # Attempts are history: the doomed week's are gone; the next week's stay.
    assert list(Attempt.objects.values_list("delivery_id", flat=True)) == [kept_finished.pk]

    # The retrying delivery is still sent, with its body, and numbered after its old attempts.
    report = deliver_due()
    assert report.succeeded == 1
    (request,) = receiver.received("/hook")
    assert b'"n": 1' in request.body or b'"n":1' in request.body
    attempt = Attempt.objects.get(delivery=retrying)
    assert (attempt.number, attempt.response_status) == (3, 200)
    assert Delivery.objects.get(pk=retrying.pk).status == Delivery.Status.SUCCEEDED


@postgres_only
def test_a_dry_run_counts_partitions_and_changes_nothing(weekly, make_delivery, settings):
    now = timezone.now()
    doomed = partitions.span_start(now - timedelta(weeks=6))
    make_delivery(age=now - (doomed + timedelta(days=1)), attempts=3)
    before = _names()
    _retention_to(settings, doomed + partitions.SPAN, now)

    report = retention_purge(now=now, dry_run=True)

    assert report.attempt_partitions_dropped == len(
        [p for p in before if p <= partitions.partition_name(doomed)]
    )
    assert _names() == before
    assert Attempt.objects.count() == 3


@postgres_only
def test_inside_a_transaction_weeks_are_detached_plainly(weekly, make_delivery):
    """DETACH CONCURRENTLY cannot run in a transaction block: a caller's atomic block (as a
    test's) gets the plain detach, same outcome."""
    now = timezone.now()
    old = make_delivery(age=timedelta(weeks=8), attempts=2)
    kept = make_delivery(age=timedelta(days=1), attempts=1)
    cutoff = partitions.span_start(now - timedelta(weeks=6))
    with connection.cursor() as cursor:
        # The rows above were written in this same transaction: their deferred key checks
        # would keep their table from being dropped ("pending trigger events").
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    dropped = partitions.partitions_drop_older_than(cutoff)

    assert partitions.partition_name(partitions.span_start(now - timedelta(weeks=8))) in dropped
    assert not set(dropped) & set(_names())
    assert not Attempt.objects.filter(delivery=old).exists()
    assert Attempt.objects.filter(delivery=kept).count() == 1
    assert partitions.partitions_left_detached() == []


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_worker_draining_while_partitions_are_detached_loses_nothing(
    weekly_committed, make_delivery, settings, receiver, tenant, invoice_paid, tmp_path
):
    settings.WEBHOOKS_FANOUT_GRACE = 0
    celery_app.control.purge()
    now = timezone.now()
    # Six weeks of old history, a few finished deliveries with attempts in each week.
    for weeks in range(9, 3, -1):
        for _ in range(5):
            make_delivery(age=timedelta(weeks=weeks, days=-1), attempts=3)
    endpoint = endpoint_create(tenant=tenant, url=receiver.url("/live"))[0]
    Endpoint.objects.exclude(pk=endpoint.pk).update(enabled=False)
    worker = start_worker(tmp_path)
    try:
        events = [publish_event(tenant, "invoice.paid", {"live": i}) for i in range(40)]
        # Retention runs week by week while the worker sends (each a CONCURRENTLY detach).
        dropped = []
        for weeks in range(8, 3, -1):
            cutoff = partitions.span_start(now - timedelta(weeks=weeks))
            _retention_to(settings, cutoff, now)
            dropped += [
                n for n in _names() if n <= partitions.partition_name(cutoff - partitions.SPAN)
            ]
            retention_purge(now=now)
            events += [publish_event(tenant, "invoice.paid", {"live": 40 + weeks})]
        receiver.wait_for(len(events), path_prefix="/live", timeout=60)
        deadline = time.monotonic() + 30
        live = Delivery.objects.filter(endpoint=endpoint)
        while live.filter(status=Delivery.Status.SUCCEEDED).count() < len(events):
            assert time.monotonic() < deadline, list(live.values_list("status", flat=True))
            time.sleep(0.2)
    finally:
        worker.stop()
    got = sorted(r.headers["webhook-id"] for r in receiver.received("/live"))
    assert got == sorted(e.pk for e in events)  # each once
    assert Attempt.objects.filter(endpoint=endpoint).count() == len(events)
    assert set(Attempt.objects.filter(endpoint=endpoint).values_list("number", flat=True)) == {1}
    assert not set(dropped) & set(_names())
