"""The endpoint's transformation page: an editor, enable/disable, its versions, and "run on a
recent event" showing the input, the output and any error, sending nothing.

Thin: saving is ``transformation_update`` (audited), a run is ``transformation_simulate``. Runs
use sandbox processes, so they are for members who can write and rate-limited per tenant as the
payload filter test is (``WEBHOOKS_TRANSFORM_TEST_RATE_LIMIT`` a minute).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from endpoints.dashboard import endpoint_or_404, tenant_view
from endpoints.models import Tenant
from endpoints.services import transformations
from endpoints.views_shared import RunLimit
from platform_core.conf import webhooks_settings
from platform_core.dashboard import flat_message

from .selectors import endpoint_recent_bodies

RECENT_EVENTS = 20
RECENT_CHARS = 1024 * 1024
EXAMPLE = """function handler(webhook) {
  // webhook: {method, url, payload, eventType}; set webhook.cancel = true to send nothing.
  webhook.payload = {text: `${webhook.eventType}: ${JSON.stringify(webhook.payload.data)}`};
  return webhook;
}
"""
#: Each run counts against the tenant's ``WEBHOOKS_TRANSFORM_TEST_RATE_LIMIT`` a minute.
RUNS = RunLimit("endpoint-transformation-test", "run transformations", "portal/transformation.html")


@require_http_methods(["GET", "POST"])
@tenant_view(write=True)
def endpoint_transformation(request: HttpRequest, tenant: Tenant, endpoint_id: str) -> HttpResponse:
    endpoint = endpoint_or_404(tenant, endpoint_id)
    state = transformations.transformation_get(endpoint=endpoint)
    events = endpoint_recent_bodies(endpoint=endpoint, limit=RECENT_EVENTS, max_chars=RECENT_CHARS)
    code = request.POST.get("code") if request.method == "POST" else None
    if code is None:
        code = state.current.code if state.current else EXAMPLE
    context: dict[str, Any] = {
        "endpoint": endpoint,
        "state": state,
        "code": code,
        "versions": endpoint.transformations.order_by("-version"),
        "events": [e for e in events if e[3] is not None],
        "chosen": request.POST.get("event", ""),
        "section": "endpoints",
        "result": None,
        "error": "",
    }
    if request.method == "POST" and request.POST.get("action") == "save":
        try:
            transformations.transformation_update(
                endpoint=endpoint,
                code=code,
                enabled=request.POST.get("enabled") == "on",
                actor=request.user,
                via="portal link" if getattr(request.viewer, "portal", False) else "",
            )
        except ValidationError as exc:
            context["error"] = flat_message(exc)
            return render(request, "portal/transformation.html", context, status=400)
        messages.success(request, "Transformation saved.")
        return redirect("endpoint-transformation", endpoint.pk)
    if request.method == "POST" and request.POST.get("action") == "run":
        limit = webhooks_settings().transform_test_rate_limit
        limited = RUNS.refused(request, tenant, limit, context)
        if limited is not None:
            return limited
        sample = next((e for e in context["events"] if e[0] == context["chosen"]), None)
        if sample is None:
            context["error"] = "Choose one of the recent events."
        else:
            result = transformations.transformation_simulate(
                code=code,
                payload=transformations.sample_payload(sample[3]),
                event_type=sample[1],
                url=endpoint.url,
            )
            context["result"] = {
                "input": json.dumps(result["input"], indent=2, ensure_ascii=False),
                "output": (
                    json.dumps(result["output"], indent=2, ensure_ascii=False)
                    if result["output"] is not None
                    else ""
                ),
                "error": result["error"] or "",
            }
    return render(request, "portal/transformation.html", context)
