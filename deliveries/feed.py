"""Pull delivery: a poll endpoint's feed, read with a cursor or by a named consumer.

The fan-out puts one ``FeedItem`` per event into each subscribed poll endpoint's feed; nothing
is sent. A read first gives a position to the items no read has seen yet (under the endpoint's
row lock, in event id order, never past an earlier event of the tenant still waiting for its
fan-out, and a scheduled event only once due), then returns the items after the cursor in
position order. An item committed after a read therefore lands after everything that read
returned: a consumer that keeps its cursor never misses an event and never sees one twice, and
reads them in publish order.

Each item carries the signature headers a push to the endpoint would (its style, its live
secrets, signed at read time), so a consumer verifies what it got as a receiver would. The
values of credential custom headers (``Authorization``, ``X-Api-Key``…) are shown
``[redacted]``, as everywhere else the API shows headers: a feed reader (a read-only key too)
never reads them.

A named consumer's position is kept by the server and moves only when the consumer hands back
the iterator of a page it has processed (or seeks): one that crashes mid-page reads that page
again. A cursor older than what retention removed answers ``CursorExpired``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from deliveries import signing
from deliveries.long_poll import poll_wait_reserve
from deliveries.models import Event, FeedConsumer, FeedFetch, FeedItem
from endpoints.models import Endpoint
from endpoints.services import endpoint_secrets_live, headers_redacted
from platform_core.conf import webhooks_settings

MAX_LIMIT = 250
MAX_WAIT_SECONDS = 30.0
WAIT_STEP_SECONDS = 0.2
PLACE_BATCH = 5000  # items given a position per read at most
CONSUMER_NAME_MAX = 128


class FeedError(ValueError):
    """A read that cannot be served; ``field`` names the parameter at fault."""

    def __init__(self, message: str, *, field: str = "cursor") -> None:
        super().__init__(message)
        self.field = field


class CursorExpired(FeedError):
    """The cursor points before what retention removed; ``oldest`` is where reading resumes."""

    def __init__(self, oldest: int) -> None:
        super().__init__(
            "This cursor points at events retention has removed; resume from the oldest "
            "position still available (oldest_cursor)."
        )
        self.oldest = oldest


def cursor_text(position: int) -> str:
    """An opaque cursor for ``position``."""
    return "c_" + base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")


def cursor_position(cursor: str | None) -> int:
    """The position a cursor stands for (none: the start of the feed)."""
    if not cursor:
        return 0
    try:
        if not cursor.startswith("c_"):
            raise ValueError
        raw = cursor[2:]
        value = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        if not value.isascii() or not value.isdigit():
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise FeedError(f"{cursor[:40]!r} is not a cursor this feed gave out.") from None


@dataclass
class FeedEntry:
    position: int
    event_id: str
    event_type: str
    timestamp: datetime
    payload: Any
    body: str  # the exact bytes the signatures in ``headers`` are over; ``payload`` parsed
    channels: list[str]
    tags: list[str]
    headers: dict[str, str]
    idempotency_key: str | None


@dataclass
class FeedPage:
    entries: list[FeedEntry]
    after: int  # the position the page starts after
    next_position: int  # hand back as the cursor (or iterator) of the next read
    done: bool  # nothing more right now
    wait_shortened: bool = False  # an empty read that had no room to wait (long_poll)

    @property
    def next_cursor(self) -> str:
        return cursor_text(self.next_position)


def _bounds(endpoint: Endpoint) -> tuple[int, int]:
    """The feed's last given position and the last one retention removed, as stored now."""
    return Endpoint.objects.filter(pk=endpoint.pk).values_list(
        "feed_position", "feed_trimmed_through"
    )[0]


def _place(endpoint: Endpoint) -> int:
    """Give positions to the items of ``endpoint`` no read has seen yet, in event id order;
    returns the feed's last position (every item up to it is committed)."""
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().only("feed_position").get(pk=endpoint.pk)
        unplaced = FeedItem.objects.filter(endpoint_id=endpoint.pk, position__isnull=True).exclude(
            event__deliver_at__gt=timezone.now()  # a scheduled event joins the feed when due
        )
        # Not past an earlier event of the tenant still to be fanned out (fan-outs of single
        # events may finish out of order): its item is placed first when it comes.
        blocker = (
            Event.objects.filter(tenant_id=endpoint.tenant_id, fanned_out_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        if blocker is not None:
            unplaced = unplaced.filter(event_id__lt=blocker)
        items = list(unplaced.order_by("event_id").only("id")[:PLACE_BATCH])
        start = locked.feed_position
        if not items:
            return start
        for offset, item in enumerate(items, start=1):
            item.position = start + offset
        FeedItem.objects.bulk_update(items, ["position"], batch_size=500)
        Endpoint.objects.filter(pk=endpoint.pk).update(feed_position=start + len(items))
        return start + len(items)


def _read(endpoint: Endpoint, after: int, limit: int, event_type: str | None) -> list[FeedItem]:
    items = FeedItem.objects.filter(endpoint_id=endpoint.pk, position__gt=after)
    if event_type:
        items = items.filter(event__event_type__name=event_type)
    return list(items.select_related("event__event_type").order_by("position")[:limit])


def _entries(endpoint: Endpoint, items: list[FeedItem]) -> list[FeedEntry]:
    if not items:
        return []
    secrets = endpoint_secrets_live(endpoint_ids=[endpoint.pk]).get(endpoint.pk, [])
    # Never opened here: a reader gets the names, not the credentials (a push sends them).
    custom = headers_redacted(endpoint.headers or {})
    timestamp = int(time.time())
    out = []
    for item in items:
        event = item.event
        signed = (
            signing.request_signed(
                url=endpoint.url,
                custom=custom,
                secrets=secrets,
                msg_id=event.pk,
                timestamp=timestamp,
                body=event.body.encode("utf-8"),
                svix_format=event.body_is_payload,
                test=event.is_test,
                style=endpoint.signature_style,
                event_type=event.event_type.name,
                created=int(event.created_at.timestamp()),
            )
            if event.body
            else None
        )
        body = signed.body.decode("utf-8") if signed else ""
        out.append(
            FeedEntry(
                position=item.position or 0,
                event_id=event.pk,
                event_type=event.event_type.name,
                timestamp=event.created_at,
                payload=json.loads(body) if body else None,
                body=body,
                channels=list(event.channels or []),
                tags=list(event.tags or []),
                headers=signed.headers if signed else {},
                idempotency_key=event.idempotency_key,
            )
        )
    return out


def _news(endpoint: Endpoint, seen: int) -> bool:
    """Whether the feed may have something after position ``seen``: an item placed after it, or
    one due that no read has placed yet. One indexed query, no lock."""
    due = Q(event__deliver_at__isnull=True) | Q(event__deliver_at__lte=timezone.now())
    return (
        FeedItem.objects.filter(endpoint_id=endpoint.pk)
        .filter(Q(position__gt=seen) | (Q(position__isnull=True) & due))
        .exists()
    )


def _wait(
    endpoint: Endpoint,
    after: int,
    limit: int,
    event_type: str | None,
    wait: float,
    started: float,
    seen: int,
    sleep: Callable[[float], None],
) -> list[FeedItem]:
    """Wait for the first item after ``after``, until ``wait`` seconds from ``started``.

    Each step asks one cheap question (``_news``); only when the answer is yes does it take the
    endpoint's lock to place items and read them. ``seen`` is the feed's last position before
    the last read: anything placed later lies after it, so an item of another type is not read
    again."""
    while True:
        remaining = wait - (time.monotonic() - started)
        if remaining <= 0:
            return []
        sleep(min(WAIT_STEP_SECONDS, remaining))
        if not _news(endpoint, seen):
            continue
        seen = _place(endpoint)
        items = _read(endpoint, after, limit + 1, event_type)
        if items:
            return items


def feed_read(
    *,
    endpoint: Endpoint,
    after: int,
    limit: int = 50,
    wait: float = 0,
    event_type: str | None = None,
    consumer: str = "",
    api_key_prefix: str = "",
    sleep: Callable[[float], None] = time.sleep,
) -> FeedPage:
    """The items of ``endpoint``'s feed after position ``after``, at most ``limit``; with
    ``wait`` (seconds, at most 30) an empty read waits for the first item to arrive, if there
    is room to wait (``long_poll``): otherwise it answers at once, ``wait_shortened``."""
    if endpoint.kind != Endpoint.Kind.POLL:
        raise FeedError("This endpoint is a push endpoint: it has no feed.", field="endpoint")
    if not 1 <= limit <= MAX_LIMIT:
        raise FeedError(f"limit is between 1 and {MAX_LIMIT}.", field="limit")
    if not 0 <= wait <= MAX_WAIT_SECONDS:
        raise FeedError(f"wait is between 0 and {MAX_WAIT_SECONDS:g} seconds.", field="wait")
    if after < 0:
        raise FeedError("A position is never negative.")
    placed, trimmed = _bounds(endpoint)
    if after > placed:
        raise FeedError("This cursor is ahead of the feed: it was not given out by it.")
    if after < trimmed:
        raise CursorExpired(trimmed)
    started = time.monotonic()
    seen = _place(endpoint)
    items = _read(endpoint, after, limit + 1, event_type)
    shortened = False
    if not items and wait > 0:
        with poll_wait_reserve(key=api_key_prefix, seconds=wait) as may_wait:
            if may_wait:
                items = _wait(endpoint, after, limit, event_type, wait, started, seen, sleep)
            else:
                shortened = True
    page_items = items[:limit]
    entries = _entries(endpoint, page_items)
    next_position = entries[-1].position if entries else after
    FeedFetch.objects.create(
        endpoint=endpoint,
        consumer=consumer,
        api_key_prefix=api_key_prefix,
        after=after,
        count=len(entries),
        last_position=next_position,
        waited_ms=int((time.monotonic() - started) * 1000),
    )
    return FeedPage(
        entries=entries,
        after=after,
        next_position=next_position,
        done=len(items) <= limit,
        wait_shortened=shortened,
    )


def _consumer_name(name: str) -> str:
    if not name or len(name) > CONSUMER_NAME_MAX or not name.isprintable() or "/" in name:
        raise FeedError(
            f"A consumer name is 1 to {CONSUMER_NAME_MAX} printable characters without '/'.",
            field="consumer",
        )
    return name


def consumer_read(
    *,
    endpoint: Endpoint,
    name: str,
    iterator: str | None = None,
    limit: int = 50,
    wait: float = 0,
    api_key_prefix: str = "",
) -> FeedPage:
    """A page for the named consumer, from the position the server keeps for it. Handing back
    the ``iterator`` of a page it has processed moves that position there first (a consumer
    that does not is served the same events again: nothing is lost)."""
    name = _consumer_name(name)
    consumer = _consumer_get_or_create(endpoint=endpoint, name=name)
    placed, trimmed = _bounds(endpoint)
    if iterator:
        acknowledged = cursor_position(iterator)
        if acknowledged > placed:
            raise FeedError("This iterator is ahead of the feed.", field="iterator")
        FeedConsumer.objects.filter(pk=consumer.pk).update(
            position=acknowledged, updated_at=timezone.now()
        )
        consumer.position = acknowledged
    # An iterator or a stored position from before what retention removed: on after it.
    if consumer.position < trimmed:
        # Retention removed what it had not read (and logged it then): it goes on from there.
        FeedConsumer.objects.filter(pk=consumer.pk, position__lt=trimmed).update(position=trimmed)
        consumer.position = trimmed
    return feed_read(
        endpoint=endpoint,
        after=consumer.position,
        limit=limit,
        wait=wait,
        consumer=name,
        api_key_prefix=api_key_prefix,
    )


def consumer_seek(*, endpoint: Endpoint, name: str, after: datetime) -> int:
    """Move the named consumer to just before the first event published after ``after``;
    returns its new position."""
    if endpoint.kind != Endpoint.Kind.POLL:
        raise FeedError("This endpoint is a push endpoint: it has no feed.", field="endpoint")
    name = _consumer_name(name)
    position = feed_position_at(endpoint, after)
    consumer = _consumer_get_or_create(endpoint=endpoint, name=name, position=position)
    FeedConsumer.objects.filter(pk=consumer.pk).update(position=position, updated_at=timezone.now())
    return position


def _consumer_get_or_create(*, endpoint: Endpoint, name: str, position: int = 0) -> FeedConsumer:
    """The named consumer; a new one only while the endpoint has fewer than
    ``WEBHOOKS_POLL_CONSUMERS_PER_ENDPOINT`` (each is a row and a line of the consumer list).
    Those that exist keep working when the cap is lowered."""
    found = FeedConsumer.objects.filter(endpoint=endpoint, name=name).first()
    if found is not None:
        return found
    cap = webhooks_settings().poll_consumers_per_endpoint
    if cap and FeedConsumer.objects.filter(endpoint=endpoint).count() >= cap:
        raise FeedError(
            f"This poll endpoint has {cap} named consumers, the most it may have; reuse one, "
            "or delete one it no longer needs.",
            field="consumer",
        )
    consumer, _ = FeedConsumer.objects.get_or_create(
        endpoint=endpoint, name=name, defaults={"position": position}
    )
    return consumer


def feed_position_at(endpoint: Endpoint, moment: datetime) -> int:
    """The position to read after so that the next event is the first published after
    ``moment``: just before the lowest position of such an event (positions follow publish
    order, except for a scheduled event, placed when due), or the end of the feed."""
    _place(endpoint)
    first_after = FeedItem.objects.filter(
        endpoint_id=endpoint.pk, position__isnull=False, event__created_at__gt=moment
    ).aggregate(first=Min("position"))["first"]
    placed, trimmed = _bounds(endpoint)
    position = first_after - 1 if first_after is not None else placed
    return max(position, trimmed)


def consumer_delete(*, endpoint: Endpoint, name: str) -> bool:
    """Forget a named consumer (its position goes with it); False when there was none."""
    return FeedConsumer.objects.filter(endpoint=endpoint, name=name).delete()[0] > 0


def consumers_lag(*, endpoint: Endpoint) -> list[tuple[str, int, int]]:
    """Each consumer of ``endpoint``: (name, position, events published after it)."""
    out = []
    # Bounded: an endpoint has at most the cap of consumers, unless the cap was lowered since.
    cap = webhooks_settings().poll_consumers_per_endpoint
    consumers = FeedConsumer.objects.filter(endpoint=endpoint).order_by("name")
    if cap:
        consumers = consumers[:cap]
    for name, position in consumers.values_list("name", "position"):
        waiting = FeedItem.objects.filter(endpoint=endpoint).exclude(position__lte=position).count()
        out.append((name, position, waiting))
    return out
