"""Tenant portal pages for the delivery log, attempts, replay and recovery. Thin: services work."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from endpoints.dashboard import audit, endpoint_or_404, tenant_view
from endpoints.models import Tenant
from endpoints.selectors import endpoints_push_choices, event_types_list
from endpoints.services import is_platform_header
from endpoints.views_shared import action_done, action_refused
from platform_core.dashboard import flat_message
from platform_core.pagination import InvalidCursor, keyset_page
from platform_core.replica import reads_may_lag

from . import selectors, signing
from .lookups import attempt_or_404, delivery_or_404, event_or_404, job_or_404
from .models import Attempt, Delivery, Job
from .search import SEARCH_MIN_PREFIX, search_prefix
from .services.jobs import job_outcomes, job_recover_create, job_scope, job_state
from .services.lifecycle import delivery_replay

PAGE_SIZE = 50


class LogFilterForm(forms.Form):
    status = forms.ChoiceField(required=False)
    response = forms.ChoiceField(
        required=False,
        label="Last response",
        choices=[("", "Any response"), *selectors.RESPONSE_CLASSES.items()],
    )
    event_type = forms.ChoiceField(required=False, label="Event type")
    since = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "Any status"), *Delivery.Status.choices]
        names = [t.name for t in event_types_list(include_archived=True)]
        self.fields["event_type"].choices = [("", "Any type")] + [(n, n) for n in names]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            raise ValidationError("“Until” must be after “since”.")
        return data

    def filters(self) -> dict[str, Any]:
        """The cleaned filters as ``deliveries_filter`` takes them (invalid ones dropped)."""
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


# Lists count what matches up to this many: one bounded query (``SELECT count(*) FROM (…
# LIMIT n)``), so a log of millions of rows costs the same as one of ten thousand.
COUNT_CAP = 10_000


def log_page(request: HttpRequest, queryset: Any) -> dict[str, Any]:
    """One keyset page of ``queryset``, how many rows match (up to ``COUNT_CAP``, then "more
    than"), and the query strings of the next and first pages."""
    matching = queryset.order_by()[: COUNT_CAP + 1].count()
    try:
        page = keyset_page(queryset, cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE)
    except InvalidCursor as exc:
        raise Http404("That page link is not valid.") from exc
    next_query = ""
    if page.next_cursor:
        query: QueryDict = request.GET.copy()
        query["cursor"] = page.next_cursor
        next_query = query.urlencode()
    first = request.GET.copy()
    first.pop("cursor", None)
    return {
        "items": page.items,
        "next_query": next_query,
        "first_query": first.urlencode(),
        "paged": bool(request.GET.get("cursor")),
        "matching": min(matching, COUNT_CAP),
        "matching_more": matching > COUNT_CAP,
    }


def _pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def body_sent(attempt: Attempt) -> str:
    """The body as the attempt sent and signed it, byte for byte: the event's stored body, or
    Stripe's event object around it when the request was signed Stripe's way (its recorded
    ``stripe-signature`` header says so, whatever the endpoint's style is now)."""
    event = attempt.delivery.event
    if event.body and "stripe-signature" in {h.lower() for h in attempt.request_headers}:
        return signing.stripe_event_body(
            body=event.body.encode("utf-8"),
            body_is_payload=event.body_is_payload,
            event_id=event.pk,
            event_type=attempt.delivery.event_type.name,
            created=int(event.created_at.timestamp()),
        ).decode("utf-8")
    return event.body


MASKED = "•••••• (hidden from viewers)"


def attempt_view_model(attempt: Attempt, *, mask_custom_headers: bool = False) -> dict[str, Any]:
    """What the attempt page shows; a base64-stored body is decoded when it is text after all.

    Custom request headers often carry the receiver's credentials: members with the read-only
    role see their names, not their values.
    """
    body = attempt.response_body
    note = ""
    if attempt.response_body_encoding == Attempt.BodyEncoding.BASE64:
        raw = base64.b64decode(body)
        note = f"Binary response ({len(raw)} bytes), shown as base64."
    sent = body_sent(attempt)
    shaped = attempt.delivery.transformed
    if attempt.transformation_version is not None and shaped and "body" in shaped:
        sent = shaped["body"]  # what its transformation made and sent
    return {
        "attempt": attempt,
        "request_headers": sorted(
            (name, value if is_platform_header(name) or not mask_custom_headers else MASKED)
            for name, value in attempt.request_headers.items()
        ),
        "response_headers": sorted(attempt.response_headers.items()),
        "request_body": sent,
        "request_body_pretty": _pretty_json(sent),
        "request_body_size": len(sent.encode("utf-8")),
        "response_body": body,
        "response_note": note,
    }


@require_GET
@tenant_view
@reads_may_lag
def delivery_log(
    request: HttpRequest, tenant: Tenant, endpoint_id: str | None = None
) -> HttpResponse:
    endpoint = endpoint_or_404(tenant, endpoint_id) if endpoint_id else None
    if request.GET.get("fragment") == "recent" and endpoint is not None:
        # The live "recent deliveries" table of the endpoint page re-fetches just its rows.
        recent = list(
            selectors.deliveries_filter(tenant=tenant, endpoint=endpoint).order_by("-id")[:15]
        )
        return render(
            request, "deliveries/_recent_live.html", {"deliveries": recent, "endpoint": endpoint}
        )
    form = LogFilterForm(request.GET or None)
    qs = selectors.deliveries_filter(tenant=tenant, endpoint=endpoint, **form.filters())
    if form.is_bound and not form.is_valid():
        qs = qs.none()
    context = {
        "form": form,
        "endpoint": endpoint,
        "section": "deliveries" if endpoint is None else "endpoints",
        **log_page(request, qs),
    }
    return render(request, "deliveries/log.html", context)


@require_GET
@tenant_view
@reads_may_lag
def search(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """The search box: an event id or idempotency key opens the event, an endpoint id or uid
    the endpoint, a delivery number the delivery; otherwise the events and endpoints whose id
    (key, uid, URL) starts with the query are listed, and a miss says what was looked at."""
    query = request.GET.get("q", "")
    found = selectors.search_target(tenant=tenant, query=query)
    if found is not None:
        kind, obj = found
        return redirect(f"{kind}-detail", obj.pk)
    context = {
        "query": query.strip()[:255],
        "results": search_prefix(tenant=tenant, query=query),
        "min_prefix": SEARCH_MIN_PREFIX,
        "section": "deliveries",
    }
    return render(request, "deliveries/search.html", context)


@require_GET
@tenant_view
@reads_may_lag
def event_detail(request: HttpRequest, tenant: Tenant, event_id: str) -> HttpResponse:
    """One event and every delivery made of it (one per endpoint it went to)."""
    event = event_or_404(tenant, event_id)
    deliveries = list(selectors.event_deliveries(event=event))
    context = {
        "event": event,
        "resend_endpoints": endpoints_push_choices(tenant=tenant),
        "cancellable": event.deliver_at is not None and event.deliver_at > timezone.now(),
        "body": _pretty_json(event.body) if not event.payload_purged else "",
        "deliveries": deliveries,
        "section": "deliveries",
    }
    return render(request, "deliveries/event_detail.html", context)


@require_GET
@tenant_view
@reads_may_lag
def delivery_detail(request: HttpRequest, tenant: Tenant, delivery_id: int) -> HttpResponse:
    delivery = delivery_or_404(tenant, delivery_id)
    return render(request, delivery_template(request), delivery_context(delivery))


def delivery_template(request: HttpRequest) -> str:
    """The whole page, or (``?fragment=attempts``) the live part the page re-fetches while the
    delivery moves: its status and attempts."""
    if request.GET.get("fragment") == "attempts":
        return "deliveries/_delivery_live.html"
    return "deliveries/delivery_detail.html"


def delivery_context(delivery: Delivery, *, support: bool = False) -> dict[str, Any]:
    body = _pretty_json(delivery.event.body)
    return {
        "delivery": delivery,
        "attempts": list(selectors.delivery_attempts(delivery=delivery)),
        "body": body,
        "support": support,
        "section": "support-deliveries" if support else "deliveries",
        "active": delivery.status
        in (Delivery.Status.HELD, Delivery.Status.PENDING, Delivery.Status.SENDING),
        # What an ordered endpoint waits behind can be skipped by support (audited).
        "skippable": support
        and delivery.endpoint.ordered
        and delivery.status in (Delivery.Status.PENDING, Delivery.Status.HELD),
    }


@require_POST
@tenant_view(write=True)
def delivery_replay_view(request: HttpRequest, tenant: Tenant, delivery_id: int) -> HttpResponse:
    delivery = delivery_or_404(tenant, delivery_id)
    try:
        delivery_replay(delivery=delivery)
    except ValidationError as exc:
        messages.error(request, flat_message(exc))
    else:
        audit(request, action="delivery.replay", tenant=tenant, target=delivery)
        messages.success(request, "Replay queued; the new attempt appears below.")
    return redirect("delivery-detail", delivery_id=delivery.pk)


@require_GET
@tenant_view
@reads_may_lag
def attempt_detail(request: HttpRequest, tenant: Tenant, attempt_id: int) -> HttpResponse:
    attempt = attempt_or_404(tenant, attempt_id)
    context = attempt_view_model(
        attempt,
        mask_custom_headers=not request.viewer.can_write,  # type: ignore[attr-defined]
    )
    context["section"] = "deliveries"
    return render(request, "deliveries/attempt_detail.html", context)


#: The recover form's one-click windows, in hours ("the last hour", ...).
RECOVER_PRESETS = (1, 6, 24)


class RecoverForm(forms.Form):
    """A time to recover from, or one of the ``RECOVER_PRESETS`` (``hours``), which wins."""

    since = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    hours = forms.TypedChoiceField(
        required=False, coerce=int, choices=[(h, h) for h in RECOVER_PRESETS], empty_value=None
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("hours"):
            data["since"] = timezone.now() - timedelta(hours=data["hours"])
        if not data.get("since"):
            raise ValidationError("Give the time to recover failed deliveries from.")
        return data


@require_POST
@tenant_view(write=True)
def endpoint_recover(request: HttpRequest, tenant: Tenant, endpoint_id: str) -> HttpResponse:
    endpoint = endpoint_or_404(tenant, endpoint_id)
    form = RecoverForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the time to recover failed deliveries from.")
        return redirect("endpoint-detail", endpoint_id=endpoint.pk)
    since = form.cleaned_data["since"]
    try:
        job = job_recover_create(endpoint=endpoint, since=since, user=request.user)
    except ValidationError as exc:
        return action_refused(request, exc, redirect("endpoint-detail", endpoint_id=endpoint.pk))
    return action_done(
        request,
        redirect(reverse("endpoint-detail", args=[endpoint.pk]) + f"?job={job.pk}&watch=1#recover"),
        message=f"Recovering failed deliveries since {since:%Y-%m-%d %H:%M}.",
        action="endpoint.recover",
        tenant=tenant,
        target=endpoint,
        details={"since": since.isoformat(), "job_id": job.pk, "hours": form.cleaned_data["hours"]},
    )


def job_json(job: Job) -> JsonResponse:
    outcomes = job_outcomes(job)
    response = JsonResponse(
        {
            "id": job.pk,
            "kind": job.kind,
            "status": job.status,
            "state": job_state(job, outcomes),
            "total": job.total,
            "done": job.done,
            "progress": round(job.progress, 4),
            "error": job.error,
            "scope": job_scope(job),
            "outcomes": outcomes,
        }
    )
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@tenant_view
def job_status(request: HttpRequest, tenant: Tenant, job_id: int) -> HttpResponse:
    return job_json(job_or_404(tenant, job_id))


def disable_confirm(
    request: HttpRequest, endpoint: Any, *, back: str, section: str
) -> HttpResponse:
    """The page that asks before an endpoint is disabled (its waiting deliveries are
    cancelled); an endpoint already disabled goes back, where Enable is one click."""
    if not endpoint.enabled:
        return redirect(back)
    return render(
        request,
        "confirm.html",
        {
            "title": "Disable this endpoint?",
            "message": "Nothing is sent to it while it is disabled, and the deliveries waiting "
            "for it are cancelled (enabling it again resends recent ones).",
            "subject": endpoint.url if endpoint.kind == "push" else f"poll endpoint {endpoint.pk}",
            "action": request.path,
            "confirm_label": "Disable",
            "back": back,
            "section": section,
        },
    )
