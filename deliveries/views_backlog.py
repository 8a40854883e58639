"""The support console's "Stuck work": what waits, why, and where (staff only)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from webhooks_platform.dashboard import staff_view

from .backlog import COUNTED_VIEWS, WAITING_VIEWS, endpoints_backlog, waiting_totals


@require_GET
@staff_view
def support_backlog(request: HttpRequest) -> HttpResponse:
    """Counts of waiting work by reason, and per endpoint: retrying, behind an open circuit,
    held behind an ordered head, scheduled. Each count links to those deliveries."""
    totals = waiting_totals()
    return render(
        request,
        "support/backlog.html",
        {
            "views": [(key, WAITING_VIEWS[key], totals[key]) for key in COUNTED_VIEWS],
            "endpoints": endpoints_backlog(),
            "section": "support",
        },
    )
