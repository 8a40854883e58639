"""A tenant's events by hand: resend one to an endpoint, and the scheduled events (list, cancel).
Thin: the services in ``services.by_hand`` decide; every action is audited."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from endpoints.dashboard import endpoint_or_404, tenant_view
from endpoints.models import Tenant
from endpoints.views_shared import action_done, action_refused

from .backlog import events_scheduled
from .lookups import event_or_404
from .services.by_hand import event_resend, event_scheduled_cancel

SCHEDULED_SHOWN = 200


@require_POST
@tenant_view(write=True)
def event_resend_view(request: HttpRequest, tenant: Tenant, event_id: str) -> HttpResponse:
    """Send the event to the chosen endpoint now (its delivery there replayed, or a new one)."""
    event = event_or_404(tenant, event_id)
    endpoint = endpoint_or_404(tenant, request.POST.get("endpoint", ""))
    try:
        delivery = event_resend(event=event, endpoint=endpoint)
    except ValidationError as exc:
        return action_refused(request, exc, redirect("event-detail", event_id=event.pk))
    return action_done(
        request,
        redirect("delivery-detail", delivery_id=delivery.pk),
        message=f"Sent again to {endpoint.url}; the new attempt appears below.",
        action="event.resend",
        tenant=tenant,
        target=delivery,
        details={"event": event.pk, "endpoint": endpoint.pk},
    )


@require_GET
@tenant_view
def scheduled_events(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    events = list(events_scheduled(tenant=tenant)[:SCHEDULED_SHOWN])
    return render(
        request,
        "deliveries/scheduled_events.html",
        {"events": events, "more": len(events) == SCHEDULED_SHOWN, "section": "deliveries"},
    )


@require_http_methods(["GET", "POST"])
@tenant_view(write=True)
def scheduled_event_cancel(request: HttpRequest, tenant: Tenant, event_id: str) -> HttpResponse:
    """GET asks to confirm; POST cancels the scheduled event's deliveries."""
    event = event_or_404(tenant, event_id)
    if request.method == "GET":
        return render(
            request,
            "deliveries/scheduled_event_cancel.html",
            {"event": event, "section": "deliveries"},
        )
    try:
        cancelled = event_scheduled_cancel(event=event)
    except ValidationError as exc:
        return action_refused(request, exc, redirect("scheduled-events"))
    return action_done(
        request,
        redirect("scheduled-events"),
        message=f"Event {event.pk} cancelled: {cancelled} waiting deliveries will not go out.",
        action="event.schedule_cancel",
        tenant=tenant,
        target=event,
        details={"deliveries": cancelled},
    )
