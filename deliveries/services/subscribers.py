"""Which endpoints receive an event: type, channels, and each endpoint's payload filter."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from deliveries.models import Event
from endpoints.models import Endpoint
from endpoints.payload_filter import FilterOverBudget, FilterUnevaluable, filter_matches
from platform_core import metrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subscribers:
    """An audience's endpoints: those that take every event of it, and those whose payload
    filter decides per event (``(endpoint id, filter)``)."""

    always: list[str]
    filtered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Ordered endpoints among them: their deliveries are created held (deliveries.ordering).
    ordered: set[str] = field(default_factory=set)
    # Poll endpoints among them: the event goes into their feed (deliveries.feed), not a POST.
    poll: set[str] = field(default_factory=set)


def event_subscribers(*, event: Event) -> Subscribers:
    """The enabled endpoints that may receive ``event``: subscribed to its type (no types means
    all), and sharing a channel with it unless the endpoint has no channels (an endpoint with
    channels never receives an event without one, as in Svix). A test event goes to its one
    endpoint whatever its filter says: it was sent to test that endpoint."""
    endpoints = Endpoint.objects.filter(
        tenant_id=event.tenant_id, enabled=True, deleted_at__isnull=True
    )
    if event.only_endpoint_id:
        endpoints = endpoints.filter(pk=event.only_endpoint_id)
    else:
        endpoints = endpoints.filter(
            Q(event_types=event.event_type_id) | Q(event_types__isnull=True)
        )
    rows = endpoints.values_list("id", "channels", "payload_filter", "ordered", "kind").distinct()
    wanted = set(event.channels or ())
    out = Subscribers(always=[])
    for pk, channels, spec, ordered, kind in rows:
        if channels and not wanted.intersection(channels):
            continue
        if kind == Endpoint.Kind.POLL:
            out.poll.add(pk)
        if ordered and not event.only_endpoint_id:  # a test event goes at once
            out.ordered.add(pk)
        if spec and not event.only_endpoint_id:
            out.filtered.append((pk, spec))
        else:
            out.always.append(pk)
    return out


def event_receivers(event_id: str, body: str, subscribers: Subscribers) -> list[str]:
    """The endpoints of ``subscribers`` that receive the event whose ``body`` is given: every
    unfiltered one, and those whose filter passes. A filter that cannot be evaluated on the body,
    or whose evaluation would exceed its budget (``payload_filter.MAX_REGEX_WORK``), skips its
    endpoint, with a warning naming both (the body itself is never logged): a filter says what
    the endpoint may receive, so an event it could not check is not sent.

    The fan-out calls this outside its transaction (``fanout``): the work is bounded per
    evaluation, but a drain of many events times many filtered endpoints is not."""
    if not subscribers.filtered:
        return subscribers.always
    receivers = list(subscribers.always)
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    no_match = unevaluable = over_budget = 0
    for endpoint_id, spec in subscribers.filtered:
        try:
            matched = filter_matches(spec, parsed)
        except FilterUnevaluable as exc:
            if isinstance(exc, FilterOverBudget):
                over_budget += 1
            else:
                unevaluable += 1
            logger.warning(
                "payload filter could not be evaluated; endpoint skipped for this event",
                extra={"event_id": event_id, "endpoint_id": endpoint_id, "reason": str(exc)},
            )
            continue
        if matched:
            receivers.append(endpoint_id)
        else:
            no_match += 1
    metrics.fanout_filtered(no_match=no_match, unevaluable=unevaluable, over_budget=over_budget)
    return receivers


def event_bodies(events: Iterable[Event]) -> dict[str, str]:
    """The bodies of ``events`` (read without them), in one query."""
    ids = [event.pk for event in events]
    if not ids:
        return {}
    return dict(Event.objects.filter(pk__in=ids).values_list("id", "body"))
