"""The support console's "Stuck work": what waits, why, and where; and Skip, which frees an
ordered endpoint stuck behind its head (staff only, audited)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from endpoints.dashboard import audit
from platform_core.dashboard import flat_message, staff_view

from . import selectors
from .backlog import COUNTED_VIEWS, WAITING_VIEWS, endpoints_backlog, waiting_totals
from .services.lifecycle import delivery_skip


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


@require_http_methods(["GET", "POST"])
@staff_view
def support_delivery_skip(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """Give up on the delivery an ordered endpoint waits behind, so that the next can go
    (GET asks to confirm; the page's Skip button leads there)."""
    delivery = selectors.delivery_get(tenant=None, delivery_id=delivery_id)
    if delivery is None:
        raise Http404("No such delivery.")
    if request.method == "GET":
        return render(
            request,
            "confirm.html",
            {
                "title": f"Skip delivery {delivery.pk}?",
                "message": "It is cancelled (its attempts stay in the log, and it can still be "
                "replayed by hand), and the ordered endpoint's next delivery goes out now.",
                "action": request.path,
                "confirm_label": "Skip it",
                "back": reverse("support-delivery-detail", args=[delivery.pk]),
                "section": "support-deliveries",
            },
        )
    try:
        delivery_skip(delivery=delivery)
    except ValidationError as exc:
        messages.error(request, f"Delivery {delivery.pk}: {flat_message(exc)}")
    else:
        audit(request, action="delivery.skip", tenant=delivery.tenant, target=delivery)
        messages.success(
            request, f"Delivery {delivery.pk} skipped; the endpoint's next delivery goes now."
        )
    return redirect("support-delivery-detail", delivery_id=delivery.pk)
