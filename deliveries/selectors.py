"""Reads shared by the API, the dashboard and tasks. Every one is scoped by tenant when given."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Aggregate, Count, FloatField, Q, QuerySet
from django.db.models.functions import Length
from django.utils import timezone

from endpoints.models import Endpoint, Tenant

from .backlog import deliveries_waiting
from .models import Attempt, Delivery, Event, Job


def _of_type_in_window(
    qs: QuerySet[Any], event_type: str | None, since: datetime | None, until: datetime | None
) -> QuerySet[Any]:
    """Events or deliveries of ``event_type`` created in ``[since, until)`` (each optional)."""
    if event_type:
        qs = qs.filter(event_type__name=event_type)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return qs


def deliveries_filter(
    *,
    tenant: Tenant | None = None,
    endpoint: Endpoint | str | None = None,
    status: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    response: str | None = None,
    waiting: str | None = None,
) -> QuerySet[Delivery]:
    """Deliveries matching the log's filters. ``tenant=None`` spans every tenant (support).
    ``response``: the last answer's class, one of ``RESPONSE_CLASSES``; ``waiting``: one of
    ``backlog.WAITING_VIEWS`` (why it waits)."""
    qs = Delivery.objects.all()
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    if endpoint is not None:
        qs = qs.filter(endpoint_id=endpoint.pk if isinstance(endpoint, Endpoint) else endpoint)
    if status:
        qs = qs.filter(status=status)
    if response:
        qs = _with_response(qs, response)
    if waiting:
        qs = deliveries_waiting(qs, waiting)
    return _of_type_in_window(qs, event_type, since, until).select_related(
        "endpoint", "event_type", "tenant"
    )


# The last answer of a delivery, by class: "none" is a try without a response (timeout,
# refused, blocked...), "untried" a delivery with no try yet.
RESPONSE_CLASSES = {
    "2xx": "2xx",
    "3xx": "3xx",
    "4xx": "4xx",
    "5xx": "5xx",
    "none": "No response",
    "untried": "Not tried yet",
}


def _with_response(qs: QuerySet[Delivery], response: str) -> QuerySet[Delivery]:
    if response == "untried":
        return qs.filter(attempt_count=0)
    if response == "none":
        return qs.filter(attempt_count__gt=0, last_status_code=0)
    if response in RESPONSE_CLASSES:
        low = int(response[0]) * 100
        return qs.filter(last_status_code__gte=low, last_status_code__lt=low + 100)
    return qs.none()


def event_deliveries(*, event: Event) -> QuerySet[Delivery]:
    """Every delivery of ``event``, one per endpoint it went to."""
    return Delivery.objects.filter(event=event).select_related("endpoint").order_by("id")


def search_target(*, tenant: Tenant, query: str) -> tuple[str, Any] | None:
    """What a search box entry names in ``tenant``: an event (by id or idempotency key), an
    endpoint (by id or uid) or a delivery (by number). None when nothing matches."""
    query = query.strip()
    if not query or "\x00" in query or len(query) > 255:
        return None
    event = Event.objects.filter(tenant=tenant, pk=query).first()
    if event is None:
        event = Event.objects.filter(tenant=tenant, idempotency_key=query).first()
    if event is not None:
        return "event", event
    endpoint = (
        Endpoint.objects.filter(tenant=tenant, deleted_at__isnull=True)
        .filter(Q(pk=query) | Q(uid=query))
        .first()
    )
    if endpoint is not None:
        return "endpoint", endpoint
    number = query.lstrip("#")
    if number.isdigit() and len(number) < 19:
        delivery = Delivery.objects.filter(tenant=tenant, pk=int(number)).first()
        if delivery is not None:
            return "delivery", delivery
    return None


def delivery_get(*, tenant: Tenant | None, delivery_id: int | str) -> Delivery | None:
    try:
        pk = int(delivery_id)
    except (TypeError, ValueError):
        return None
    qs = Delivery.objects.select_related("endpoint", "event", "event_type", "tenant")
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    return qs.filter(pk=pk).first()


def delivery_attempts(*, delivery: Delivery) -> QuerySet[Attempt]:
    return Attempt.objects.filter(delivery=delivery).order_by("number", "id")


def attempt_get(*, tenant: Tenant | None, attempt_id: int | str) -> Attempt | None:
    try:
        pk = int(attempt_id)
    except (TypeError, ValueError):
        return None
    qs = Attempt.objects.select_related("delivery", "delivery__event", "endpoint")
    if tenant is not None:
        qs = qs.filter(endpoint__tenant=tenant)
    return qs.filter(pk=pk).first()


def endpoint_attempts(*, endpoint: Endpoint) -> QuerySet[Attempt]:
    return Attempt.objects.filter(endpoint=endpoint)


def events_filter(
    *,
    tenant: Tenant,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    scheduled: bool | None = None,
) -> QuerySet[Event]:
    """A tenant's events; ``scheduled``: only those whose ``deliver_at`` is still ahead (True)
    or only the others (False)."""
    qs = Event.objects.filter(tenant=tenant).select_related("event_type")
    if scheduled is not None:
        ahead = Q(deliver_at__gt=timezone.now())
        qs = qs.filter(ahead) if scheduled else qs.exclude(ahead)
    return _of_type_in_window(qs, event_type, since, until)


def endpoint_recent_bodies(
    *, endpoint: Endpoint, limit: int, max_chars: int
) -> list[tuple[str, str, datetime, str | None]]:
    """The tenant's latest ``limit`` events of the types ``endpoint`` takes, newest first, as
    (id, type name, published, body): bodies are read, newest first, while they add up to at
    most ``max_chars`` characters; the body is None for the events after that."""
    events = Event.objects.filter(tenant_id=endpoint.tenant_id).exclude(body="")
    types = list(endpoint.event_types.values_list("pk", flat=True))
    if types:
        events = events.filter(event_type_id__in=types)
    rows = list(
        events.order_by("-created_at")
        .annotate(size=Length("body"))
        .values_list("id", "event_type__name", "created_at", "size")[:limit]
    )
    wanted, left = [], max_chars
    for event_id, _, _, size in rows:
        if size > left:
            break
        wanted.append(event_id)
        left -= size
    bodies = dict(Event.objects.filter(pk__in=wanted).values_list("id", "body")) if wanted else {}
    return [(pk, name, at, bodies.get(pk)) for pk, name, at, _ in rows]


def event_get(*, tenant: Tenant, event_id: str) -> Event | None:
    return Event.objects.filter(tenant=tenant, pk=event_id).select_related("event_type").first()


def endpoint_stats(
    *, endpoint: Endpoint, since: datetime | None = None, until: datetime | None = None
) -> dict[str, dict[str, int]]:
    """Counts of deliveries by status and of attempts by outcome, in ``[since, until)``."""
    deliveries = Delivery.objects.filter(endpoint=endpoint)
    attempts = Attempt.objects.filter(endpoint=endpoint)
    if since is not None:
        deliveries = deliveries.filter(created_at__gte=since)
        attempts = attempts.filter(started_at__gte=since)
    if until is not None:
        deliveries = deliveries.filter(created_at__lt=until)
        attempts = attempts.filter(started_at__lt=until)
    by_status = {s: 0 for s in Delivery.Status.values}
    for row in deliveries.values("status").annotate(n=Count("id")):
        by_status[row["status"]] = row["n"]
    outcome = attempts.aggregate(
        succeeded=Count("id", filter=Q(response_status__gte=200, response_status__lt=300)),
        failed_http=Count(
            "id",
            filter=Q(response_status__gt=0) & ~Q(response_status__gte=200, response_status__lt=300),
        ),
        no_response=Count("id", filter=Q(response_status=0)),
        total=Count("id"),
    )
    return {"deliveries": by_status, "attempts": {k: v or 0 for k, v in outcome.items()}}


def endpoint_success_rate(*, endpoint: Endpoint, hours: int = 24) -> float | None:
    """Share of attempts in the last ``hours`` that got a 2xx; None when there were none."""
    stats = endpoint_stats(endpoint=endpoint, since=timezone.now() - timedelta(hours=hours))
    total = stats["attempts"]["total"]
    return None if total == 0 else stats["attempts"]["succeeded"] / total


def job_get(*, tenant: Tenant | None, job_id: int | str) -> Job | None:
    try:
        pk = int(job_id)
    except (TypeError, ValueError):
        return None
    qs = Job.objects.all()
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    return qs.filter(pk=pk).first()


_SUCCESS = Q(response_status__gte=200, response_status__lt=300)


def endpoints_health(*, endpoint_ids: list[str], hours: int = 24) -> dict[str, dict[str, object]]:
    """Success rate over ``hours`` and the newest delivery's status for a page of endpoints.

    Two queries for the whole page (one grouped count, one correlated subquery on the
    ``delivery_endpoint_log_idx`` index), where ``endpoint_success_rate`` costs two per endpoint.
    """
    from django.db.models import OuterRef, Subquery

    since = timezone.now() - timedelta(hours=hours)
    out: dict[str, dict[str, object]] = {
        pk: {"attempts": 0, "succeeded": 0, "rate": None, "last_status": None, "last_at": None}
        for pk in endpoint_ids
    }
    counts = (
        Attempt.objects.filter(endpoint_id__in=endpoint_ids, started_at__gte=since)
        .values("endpoint_id")
        .annotate(total=Count("id"), ok=Count("id", filter=_SUCCESS))
    )
    for row in counts:
        entry = out[row["endpoint_id"]]
        entry.update(attempts=row["total"], succeeded=row["ok"], rate=row["ok"] / row["total"])
    newest = Delivery.objects.filter(endpoint_id=OuterRef("pk")).order_by("-id")
    rows = (
        Endpoint.objects.filter(pk__in=endpoint_ids)
        .annotate(
            last_status=Subquery(newest.values("status")[:1]),
            last_at=Subquery(newest.values("created_at")[:1]),
        )
        .values("pk", "last_status", "last_at")
    )
    for row in rows:
        out[row["pk"]].update(last_status=row["last_status"], last_at=row["last_at"])
    return out


def attempt_buckets(
    *, endpoint: Endpoint, since: datetime, unit: str
) -> dict[datetime, tuple[int, int]]:
    """Attempts to ``endpoint`` since ``since`` per hour or day: bucket start -> (ok, failed)."""
    from django.db.models.functions import TruncDay, TruncHour

    trunc = {"hour": TruncHour, "day": TruncDay}[unit]
    rows = (
        Attempt.objects.filter(endpoint=endpoint, started_at__gte=since)
        .annotate(bucket=trunc("started_at"))
        .values("bucket")
        .annotate(ok=Count("id", filter=_SUCCESS), total=Count("id"))
        .order_by("bucket")
    )
    return {row["bucket"]: (row["ok"], row["total"] - row["ok"]) for row in rows}


class _PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def percentile(values: list[int], fraction: float) -> float:
    """``percentile_cont``: linear interpolation between the two nearest ranks (sorted input)."""
    position = fraction * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def attempt_latency_buckets(
    *, endpoint: Endpoint, since: datetime, unit: str
) -> dict[datetime, tuple[float, float]]:
    """Time to an answer of ``endpoint``'s attempts since ``since``, per hour or day: bucket
    start -> (p50 ms, p95 ms). Attempts that got no answer (refused, timed out, blocked) are
    not in it: the delivered/failed chart counts them. In the database on PostgreSQL; SQLite has
    no percentile, so its (embedded-sized) rows are ranked here, with the same interpolation."""
    from django.db import connection
    from django.db.models.functions import TruncDay, TruncHour

    trunc = {"hour": TruncHour, "day": TruncDay}[unit]
    answered = Attempt.objects.filter(
        endpoint=endpoint, started_at__gte=since, response_status__gt=0
    ).annotate(bucket=trunc("started_at"))
    if connection.vendor == "postgresql":
        rows = answered.values("bucket").annotate(
            p50=_PercentileCont("duration_ms", fraction=0.5),
            p95=_PercentileCont("duration_ms", fraction=0.95),
        )
        return {row["bucket"]: (row["p50"], row["p95"]) for row in rows}
    grouped: dict[datetime, list[int]] = {}
    for bucket, duration in answered.order_by("duration_ms").values_list("bucket", "duration_ms"):
        grouped.setdefault(bucket, []).append(duration)
    return {b: (percentile(v, 0.5), percentile(v, 0.95)) for b, v in grouped.items()}


def tenant_endpoints_support(*, tenant: Tenant) -> list[Endpoint]:
    """A tenant's live endpoints for support, each with its subscriptions (prefetched) and its
    backlog: ``waiting`` (pending) and ``in_flight`` (sending) deliveries."""
    return list(
        Endpoint.objects.filter(tenant=tenant, deleted_at__isnull=True)
        .annotate(
            waiting=Count(
                "deliveries",
                filter=Q(deliveries__status__in=(Delivery.Status.PENDING, Delivery.Status.HELD)),
            ),
            in_flight=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.SENDING)),
        )
        .prefetch_related("event_types")
        .order_by("created_at")
    )


def tenants_health(*, hours: int = 24) -> list[dict[str, object]]:
    """Every tenant with endpoint counts and its attempts' success over ``hours``; the tenants
    with failing or disabled endpoints first."""
    from django.db.models import F

    live = Q(endpoints__deleted_at__isnull=True)
    tenants = Tenant.objects.annotate(
        endpoints_total=Count("endpoints", filter=live, distinct=True),
        endpoints_disabled=Count("endpoints", filter=live & Q(endpoints__enabled=False)),
        endpoints_failing=Count(
            "endpoints",
            filter=live & Q(endpoints__enabled=True, endpoints__failing_since__isnull=False),
        ),
    ).order_by((F("endpoints_failing") + F("endpoints_disabled")).desc(), "slug")
    since = timezone.now() - timedelta(hours=hours)
    attempts = {
        row["endpoint__tenant_id"]: row
        for row in Attempt.objects.filter(started_at__gte=since)
        .values("endpoint__tenant_id")
        .annotate(total=Count("id"), ok=Count("id", filter=_SUCCESS))
    }
    out = []
    for tenant in tenants:
        row = attempts.get(tenant.pk)
        out.append(
            {
                "tenant": tenant,
                "endpoints_total": tenant.endpoints_total,
                "endpoints_disabled": tenant.endpoints_disabled,
                "endpoints_failing": tenant.endpoints_failing,
                "attempts": row["total"] if row else 0,
                "rate": row["ok"] / row["total"] if row else None,
            }
        )
    return out
