"""An endpoint's signing secret in the tenant portal: reveal it, rotate it. The endpoint's other
pages show or change its deliveries, so they are ``deliveries.views_endpoints``."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from endpoints.dashboard import audit, endpoint_or_404, tenant_view
from platform_core.dashboard import flat_message

from . import services
from .models import Tenant

ROTATION_GRACE_CHOICES = [
    (0, "Immediately (old secret stops now)"),
    (3600, "1 hour"),
    (86400, "24 hours"),
    (7 * 86400, "7 days"),
]


@require_POST
@tenant_view(write=True)
def endpoint_secret_reveal(request: HttpRequest, tenant: Tenant, endpoint_id: str) -> HttpResponse:
    endpoint = endpoint_or_404(tenant, endpoint_id)
    secret = services.endpoint_secret_current(endpoint=endpoint)
    audit(request, action="endpoint.secret_reveal", tenant=tenant, target=endpoint)
    if "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"secret": secret})
    else:
        response = render(
            request,
            "portal/secret.html",
            {"endpoint": endpoint, "secret": secret, "section": "endpoints"},
        )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@tenant_view(write=True)
def endpoint_secret_rotate(request: HttpRequest, tenant: Tenant, endpoint_id: str) -> HttpResponse:
    """Roll the signing secret, as Stripe does: the first POST shows what will happen and until
    when the old secret keeps signing; only the second, with ``confirm=yes``, rotates."""
    endpoint = endpoint_or_404(tenant, endpoint_id)
    try:
        grace = int(request.POST.get("grace_period_seconds", ""))
        if request.POST.get("confirm") != "yes":
            services.secret_grace_validate(grace)
            label = dict(ROTATION_GRACE_CHOICES).get(grace, f"{grace} seconds")
            context = {
                "endpoint": endpoint,
                "grace": grace,
                "label": label,
                "until": timezone.now() + timedelta(seconds=grace),
                "section": "endpoints",
            }
            return render(request, "portal/secret_rotate_confirm.html", context)
        services.endpoint_secret_rotate(endpoint=endpoint, grace_period_seconds=grace)
    except ValueError:
        messages.error(request, "Choose a grace period.")
    except ValidationError as exc:
        messages.error(request, flat_message(exc))
    else:
        audit(
            request,
            action="endpoint.secret_rotate",
            tenant=tenant,
            target=endpoint,
            details={"grace_period_seconds": grace},
        )
        if grace:
            until = timezone.localtime(timezone.now() + timedelta(seconds=grace))
            messages.success(
                request,
                "Secret rotated. The previous secret keeps signing until "
                f"{until:%Y-%m-%d %H:%M} {until.tzname()}.",
            )
        else:
            messages.success(request, "Secret rotated. The previous secret no longer signs.")
    return redirect("endpoint-detail", endpoint_id=endpoint.pk)
