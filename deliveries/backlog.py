"""Work that waits, by why it waits: what support looks for during an outage.

A failed delivery is only the end of the story; while an endpoint is down its deliveries are
``pending`` (retrying on the schedule, or waiting behind an open circuit), ``held`` behind the
head of an ordered endpoint, or not due yet (a scheduled event). These are the views and the
per-endpoint counts of the support console's "Stuck work".
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from .models import Delivery, Event

PENDING, HELD, FAILED = Delivery.Status.PENDING, Delivery.Status.HELD, Delivery.Status.FAILED

#: The views, by key: what each shows, in words.
WAITING_VIEWS = {
    "stuck": "Stuck: failed, retrying, behind an open circuit or a held head",
    "retrying": "Retrying: failed at least once, next try scheduled",
    "circuit": "Waiting behind an open circuit",
    "held": "Held behind an ordered endpoint's head",
    "scheduled": "Scheduled: first try not due yet",
}

#: The views that count only work still to do (failed deliveries are history, counted by the
#: capped count of the deliveries list instead).
COUNTED_VIEWS = ("retrying", "circuit", "held", "scheduled")


def _circuit_open() -> Q:
    return Q(endpoint__circuit_state="open")


def waiting_condition(view: str) -> Q:
    """The deliveries of one of ``WAITING_VIEWS`` (an unknown view matches nothing)."""
    # A manual try (a replay) is going out now: not stuck.
    retrying = Q(status=PENDING, attempt_count__gt=0, manual_requested=False) & ~_circuit_open()
    circuit = Q(status=PENDING) & _circuit_open()
    held = Q(status=HELD)
    if view == "retrying":
        return retrying
    if view == "circuit":
        return circuit
    if view == "held":
        return held
    if view == "scheduled":
        return Q(status=PENDING, attempt_count=0, next_attempt_at__gt=timezone.now()) & ~(
            _circuit_open()
        )
    if view == "stuck":
        return Q(status=FAILED) | retrying | circuit | held
    return Q(pk__in=[])


def deliveries_waiting(qs: QuerySet[Delivery], view: str) -> QuerySet[Delivery]:
    return qs.filter(waiting_condition(view))


#: Endpoints listed on the backlog page at most (those with the most waiting first).
BACKLOG_ENDPOINTS = 100


def endpoints_backlog(*, limit: int = BACKLOG_ENDPOINTS) -> list[dict[str, Any]]:
    """Per endpoint with waiting work: how many deliveries are retrying, behind its open
    circuit, held, or scheduled, and since when the oldest waits. Most waiting first."""
    rows = (
        Delivery.objects.filter(status__in=(PENDING, HELD), endpoint__deleted_at__isnull=True)
        .values(
            "endpoint_id",
            "endpoint__url",
            "endpoint__kind",
            "endpoint__circuit_state",
            "endpoint__enabled",
            "tenant__slug",
            "tenant__name",
        )
        .annotate(
            retrying=Count("id", filter=waiting_condition("retrying")),
            circuit=Count("id", filter=waiting_condition("circuit")),
            held=Count("id", filter=waiting_condition("held")),
            scheduled=Count("id", filter=waiting_condition("scheduled")),
            total=Count("id"),
            oldest=Min("created_at"),
        )
        .order_by("-total", "endpoint_id")
    )
    backlog = []
    for row in rows[:limit]:
        row["counts"] = [(view, row[view]) for view in COUNTED_VIEWS]
        backlog.append(row)
    return backlog


def waiting_totals() -> dict[str, int]:
    """How many deliveries each waiting view holds now, across every tenant."""
    base = Delivery.objects.filter(status__in=(PENDING, HELD))
    return base.aggregate(
        **{view: Count("id", filter=waiting_condition(view)) for view in COUNTED_VIEWS}
    )


#: Why a scheduled event's deliveries were cancelled (set by ``services.by_hand``).
SCHEDULE_CANCELLED = "scheduled event cancelled"


def events_scheduled(*, tenant: Any) -> QuerySet[Event]:
    """A tenant's events whose time is still ahead, soonest first, each with how many of its
    deliveries wait for it (``waiting``) and whether it was cancelled (``cancelled``)."""
    return (
        Event.objects.filter(tenant=tenant, deliver_at__gt=timezone.now())
        .select_related("event_type")
        .annotate(
            waiting=Count("deliveries", filter=Q(deliveries__status__in=(PENDING, HELD))),
            cancelled=Count("deliveries", filter=Q(deliveries__cancel_reason=SCHEDULE_CANCELLED)),
        )
        .order_by("deliver_at", "id")
    )
