"""Poll endpoints: the fan-out fills their feed, readers page through it with a cursor or as
named consumers, and every item carries headers its consumer verifies like a push."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from deliveries import publish_event
from deliveries.feed import (
    CursorExpired,
    FeedError,
    consumer_read,
    consumer_seek,
    cursor_position,
    cursor_text,
    feed_read,
)
from deliveries.long_poll import poll_wait_reserve
from deliveries.models import Delivery, Event, FeedFetch, FeedItem
from deliveries.services.endpoint_lifecycle import endpoint_update
from deliveries.services.engines import engine_new
from deliveries.services.fanout import event_fan_out, events_fan_out_pending
from endpoints.models import Endpoint
from endpoints.services import endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def poll(tenant, invoice_paid):  # type: ignore[no-untyped-def]
    endpoint, secret = endpoint_create(tenant=tenant, kind="poll")
    return endpoint, secret


def _publish(tenant, n: int) -> list:  # type: ignore[no-untyped-def]
    events = [publish_event(tenant, "invoice.paid", {"n": i}) for i in range(n)]
    events_fan_out_pending(tenant_id=tenant.pk)
    return events


def test_a_poll_endpoint_gets_every_event_in_its_feed_and_nothing_is_sent(tenant, poll, receiver):
    endpoint, secret = poll
    push, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    events = _publish(tenant, 5)
    engine_new().run_until_idle()

    page = feed_read(endpoint=endpoint, after=0, limit=10)

    assert [e.event_id for e in page.entries] == [e.pk for e in events]
    assert page.done
    assert not Delivery.objects.filter(endpoint=endpoint).exists()
    assert len(receiver.received()) == 5  # the push endpoint beside it got every one too
    entry = page.entries[0]
    body = (events[0].body).encode()
    assert Webhook(secret).verify(body, entry.headers)["data"] == {"n": 0}
    assert entry.payload["data"] == {"n": 0}
    assert push.pk != endpoint.pk


def test_a_cursor_pages_through_without_gaps_or_repeats(tenant, poll):
    endpoint, _ = poll
    events = _publish(tenant, 7)
    seen, after = [], 0
    while True:
        page = feed_read(endpoint=endpoint, after=after, limit=3)
        seen += [e.event_id for e in page.entries]
        after = cursor_position(page.next_cursor)
        if page.done:
            break
    more = _publish(tenant, 2)
    page = feed_read(endpoint=endpoint, after=after, limit=3)

    assert seen == [e.pk for e in events]
    assert [e.event_id for e in page.entries] == [e.pk for e in more]
    assert FeedFetch.objects.filter(endpoint=endpoint).count() == 4
    fetch = FeedFetch.objects.order_by("id").first()
    assert (fetch.count, fetch.after, fetch.consumer) == (3, 0, "")


def test_a_later_event_waits_for_an_earlier_one_still_to_be_fanned_out(tenant, poll):
    """Fan-outs of single events may finish out of order: the feed still reads in publish
    order, and nothing read before is read again."""
    endpoint, _ = poll
    first = publish_event(tenant, "invoice.paid", {"n": 1})
    second = publish_event(tenant, "invoice.paid", {"n": 2})
    event_fan_out(event_id=second.pk)
    early = feed_read(endpoint=endpoint, after=0)
    event_fan_out(event_id=first.pk)
    later = feed_read(endpoint=endpoint, after=early.next_position)

    assert early.entries == []
    assert [e.event_id for e in later.entries] == [first.pk, second.pk]


def test_a_scheduled_event_joins_the_feed_when_due(tenant, poll):
    endpoint, _ = poll
    later = publish_event(
        tenant, "invoice.paid", {"n": 1}, deliver_at=timezone.now() + timedelta(hours=1)
    )
    now = publish_event(tenant, "invoice.paid", {"n": 2})
    events_fan_out_pending(tenant_id=tenant.pk)

    assert [e.event_id for e in feed_read(endpoint=endpoint, after=0).entries] == [now.pk]
    Event.objects.filter(pk=later.pk).update(deliver_at=timezone.now())
    page = feed_read(endpoint=endpoint, after=0)
    assert [e.event_id for e in page.entries] == [now.pk, later.pk]


def test_long_polling_answers_as_soon_as_an_event_arrives(tenant, poll, transactional_db):
    endpoint, _ = poll

    def publish_soon() -> None:
        time.sleep(0.5)
        publish_event(tenant, "invoice.paid", {"late": True})
        events_fan_out_pending(tenant_id=tenant.pk)
        connection.close()

    threading.Thread(target=publish_soon).start()
    started = time.monotonic()
    page = feed_read(endpoint=endpoint, after=0, wait=10)
    took = time.monotonic() - started

    assert [e.payload["data"] for e in page.entries] == [{"late": True}]
    assert 0.4 < took < 3
    empty_started = time.monotonic()
    assert feed_read(endpoint=endpoint, after=page.next_position, wait=0.5).entries == []
    assert time.monotonic() - empty_started >= 0.5


def test_a_consumer_moves_only_when_it_hands_back_what_it_processed(tenant, poll):
    endpoint, _ = poll
    events = _publish(tenant, 4)

    first = consumer_read(endpoint=endpoint, name="billing", limit=2)
    again = consumer_read(endpoint=endpoint, name="billing", limit=2)  # crashed: same page
    nxt = consumer_read(endpoint=endpoint, name="billing", iterator=again.next_cursor, limit=2)
    other = consumer_read(endpoint=endpoint, name="audit", limit=10)

    ids = [e.pk for e in events]
    assert [e.event_id for e in first.entries] == ids[:2]
    assert [e.event_id for e in again.entries] == ids[:2]
    assert [e.event_id for e in nxt.entries] == ids[2:]
    assert [e.event_id for e in other.entries] == ids  # each consumer reads everything
    with pytest.raises(FeedError, match="ahead of the feed"):
        consumer_read(endpoint=endpoint, name="billing", iterator=cursor_text(99))


def test_seek_moves_a_consumer_to_a_time(tenant, poll):
    endpoint, _ = poll
    early = _publish(tenant, 2)
    cut = timezone.now()
    time.sleep(0.01)
    late = _publish(tenant, 2)

    consumer_seek(endpoint=endpoint, name="replay", after=cut)
    page = consumer_read(endpoint=endpoint, name="replay")
    consumer_seek(endpoint=endpoint, name="replay", after=cut - timedelta(days=1))
    everything = consumer_read(endpoint=endpoint, name="replay")

    assert [e.event_id for e in page.entries] == [e.pk for e in late]
    assert [e.event_id for e in everything.entries] == [e.pk for e in early + late]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"limit": 251}, "limit"), ({"limit": 0}, "limit"), ({"wait": 31}, "wait")],
)
def test_bad_reads_name_the_parameter(poll, kwargs, field):
    endpoint, _ = poll
    with pytest.raises(FeedError) as raised:
        feed_read(endpoint=endpoint, after=0, **kwargs)
    assert raised.value.field == field


def test_a_cursor_nobody_gave_out_and_a_push_endpoint_are_refused(tenant, poll, receiver):
    endpoint, _ = poll
    with pytest.raises(FeedError, match="not a cursor this feed gave out"):
        cursor_position("c_bm90LWEtbnVtYmVy")
    with pytest.raises(FeedError, match="not a cursor"):
        cursor_position("12")
    push, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    with pytest.raises(FeedError, match="push endpoint"):
        feed_read(endpoint=push, after=0)


def test_a_cursor_before_what_retention_removed_is_gone(tenant, poll):
    endpoint, _ = poll
    Endpoint.objects.filter(pk=endpoint.pk).update(feed_position=12, feed_trimmed_through=10)
    with pytest.raises(CursorExpired) as raised:
        feed_read(endpoint=endpoint, after=3)
    assert raised.value.oldest == 10


def test_a_poll_endpoint_has_no_url_and_cannot_be_ordered(tenant, invoice_paid):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="A poll endpoint has no URL"):
        endpoint_create(tenant=tenant, kind="poll", url="http://127.0.0.1:9/x")
    with pytest.raises(ValidationError, match="always in publish order"):
        endpoint_create(tenant=tenant, kind="poll", ordered=True)
    with pytest.raises(ValidationError, match="Give one of push, poll"):
        endpoint_create(tenant=tenant, kind="carrier-pigeon")
    endpoint, _ = endpoint_create(tenant=tenant, kind="poll")
    with pytest.raises(ValidationError, match="A poll endpoint has no URL"):
        endpoint_update(endpoint=endpoint, url="http://127.0.0.1:9/x")
    assert FeedItem.objects.count() == 0


def test_retention_trims_the_feed_says_what_a_consumer_had_not_read_and_keeps_the_rest(
    tenant, poll, settings, caplog
):
    import logging

    from deliveries.services.retention import retention_purge

    settings.WEBHOOKS_RETENTION_DAYS = 30
    endpoint, _ = poll
    old = _publish(tenant, 3)
    consumer_read(endpoint=endpoint, name="slow", limit=1)  # places all, acknowledges none
    fast = consumer_read(endpoint=endpoint, name="fast", limit=10)
    consumer_read(endpoint=endpoint, name="fast", iterator=fast.next_cursor)
    long_ago = timezone.now() - timedelta(days=31)
    FeedItem.objects.filter(event_id__in=[e.pk for e in old]).update(created_at=long_ago)
    Event.objects.filter(pk__in=[e.pk for e in old]).update(created_at=long_ago)
    recent = _publish(tenant, 1)

    with caplog.at_level(logging.WARNING, logger="deliveries.services.retention"):
        report = retention_purge()

    assert report.feed_items_deleted == 3
    (warning,) = [r for r in caplog.records if "not yet read" in r.getMessage()]
    assert (warning.consumer, warning.count) == ("slow", 3)  # "fast" had read them all
    with pytest.raises(CursorExpired):
        feed_read(endpoint=endpoint, after=0)
    page = consumer_read(endpoint=endpoint, name="slow")  # resumes after what was removed
    assert [e.event_id for e in page.entries] == [recent[0].pk]
    assert not Event.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert Event.objects.get(pk=recent[0].pk).body != ""


def test_saving_an_endpoint_loaded_earlier_never_winds_its_feed_back(tenant, poll):
    endpoint, _ = poll
    stale = Endpoint.objects.get(pk=endpoint.pk)
    _publish(tenant, 3)
    page = feed_read(endpoint=endpoint, after=0)  # places 1..3

    endpoint_update(endpoint=stale, description="renamed")
    more = _publish(tenant, 1)
    later = feed_read(endpoint=endpoint, after=page.next_position)

    assert Endpoint.objects.get(pk=endpoint.pk).feed_position == 4
    assert [e.event_id for e in later.entries] == [more[0].pk]


def test_a_cursor_ahead_of_the_feed_is_refused(tenant, poll):
    endpoint, _ = poll
    _publish(tenant, 1)
    feed_read(endpoint=endpoint, after=0)
    with pytest.raises(FeedError, match="ahead of the feed"):
        feed_read(endpoint=endpoint, after=10**30)


def _never(seconds: float) -> None:
    raise AssertionError("the poll waited")


def test_a_poll_with_no_room_to_wait_answers_at_once_with_what_is_there(tenant, poll, settings):
    endpoint, _ = poll
    settings.WEBHOOKS_POLL_WAITS_PER_PROCESS = 1
    with poll_wait_reserve(key="wh_someone", seconds=30):  # the one poll this process lets wait
        empty = feed_read(endpoint=endpoint, after=0, wait=30, api_key_prefix="wh_a", sleep=_never)
        events = _publish(tenant, 2)
        full = feed_read(endpoint=endpoint, after=0, wait=30, api_key_prefix="wh_a", sleep=_never)

    assert empty.entries == []
    assert empty.wait_shortened
    assert empty.next_position == 0  # the same cursor: nothing skipped
    assert [e.event_id for e in full.entries] == [e.pk for e in events]
    assert not full.wait_shortened


def test_a_key_over_its_cap_answers_at_once_while_another_key_waits(tenant, poll, settings):
    endpoint, _ = poll
    settings.WEBHOOKS_POLL_WAITS_PER_KEY = 1
    slept: list[float] = []
    with poll_wait_reserve(key="wh_a", seconds=30):
        mine = feed_read(endpoint=endpoint, after=0, wait=5, api_key_prefix="wh_a", sleep=_never)
        other = feed_read(
            endpoint=endpoint, after=0, wait=0.3, api_key_prefix="wh_b", sleep=slept.append
        )

    assert mine.wait_shortened
    assert not other.wait_shortened
    assert slept  # it waited


def test_a_waiting_poll_asks_the_database_one_query_a_step(tenant, poll):
    endpoint, _ = poll
    steps: list[float] = []

    def step(seconds: float) -> None:
        steps.append(seconds)
        time.sleep(seconds)

    with CaptureQueriesContext(connection) as at_once:
        feed_read(endpoint=endpoint, after=0, wait=0)
    with CaptureQueriesContext(connection) as waiting:
        feed_read(endpoint=endpoint, after=0, wait=0.5, sleep=step)

    assert steps
    # No lock and no placing while nothing comes: one indexed question each step.
    assert len(waiting) - len(at_once) == len(steps)
