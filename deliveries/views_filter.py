"""The endpoint page's "test this filter": a payload filter run on the tenant's recent events."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from endpoints import payload_filter
from endpoints.models import Endpoint, Tenant
from webhooks_platform.dashboard import endpoint_or_404, tenant_view

from .models import Event

RECENT_EVENTS = 20


def recent_verdicts(endpoint: Endpoint, spec: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What ``spec`` decides for the tenant's latest events of the types ``endpoint`` takes:
    ``match``, ``no match`` or why it cannot be evaluated."""
    events = Event.objects.filter(tenant_id=endpoint.tenant_id).exclude(body="")
    types = list(endpoint.event_types.values_list("pk", flat=True))
    if types:
        events = events.filter(event_type_id__in=types)
    rows = events.order_by("-created_at").values_list(
        "id", "event_type__name", "created_at", "body"
    )[:RECENT_EVENTS]
    verdicts = []
    for event_id, type_name, created_at, body in rows:
        verdict, reason = "match", ""
        if spec:
            try:
                if not payload_filter.filter_matches(spec, json.loads(body)):
                    verdict = "no match"
            except payload_filter.FilterUnevaluable as exc:
                verdict, reason = "cannot evaluate", str(exc)
        verdicts.append(
            {"id": event_id, "type": type_name, "at": created_at, "verdict": verdict, "why": reason}
        )
    return verdicts


@require_GET
@tenant_view
def endpoint_filter_test(request: HttpRequest, tenant: Tenant, endpoint_id: str) -> HttpResponse:
    endpoint = endpoint_or_404(tenant, endpoint_id)
    text = request.GET.get("filter")
    if text is None:
        text = json.dumps(endpoint.payload_filter, indent=2) if endpoint.payload_filter else ""
    error = ""
    spec = None
    if text.strip():
        try:
            spec = payload_filter.filter_validate(json.loads(text))
        except ValueError as exc:  # not JSON, or a FilterError
            error = str(exc) if isinstance(exc, payload_filter.FilterError) else f"Not JSON: {exc}."
    context = {
        "endpoint": endpoint,
        "text": text,
        "error": error,
        "verdicts": [] if error else recent_verdicts(endpoint, spec),
        "section": "endpoints",
    }
    return render(request, "portal/filter_test.html", context)
