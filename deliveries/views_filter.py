"""The endpoint page's "test this filter": a payload filter run on the tenant's recent events.

Thin: the limits and the verdicts are ``payload_filter``'s (``filter_verdicts``, ``TEST_*``), the
read is ``deliveries.selectors.endpoint_recent_bodies``. Running filters costs CPU, so the page is
for members who can write (not viewers, not read-only portal links) and rate-limited per tenant.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from endpoints import payload_filter
from endpoints.dashboard import endpoint_or_404, tenant_view
from endpoints.models import Tenant
from endpoints.views_shared import RunLimit
from platform_core.conf import webhooks_settings

from .selectors import endpoint_recent_bodies

MAX_TEXT = payload_filter.MAX_BYTES * 2
_LIMITS = {
    "patterns": payload_filter.MAX_PATTERNS,
    "program": f"{payload_filter.MAX_PROGRAM:,}",
    "input": f"{payload_filter.MAX_REGEX_INPUT:,}",
    "work": f"{payload_filter.MAX_REGEX_WORK:,}",
    "events": payload_filter.TEST_EVENTS,
    "chars": f"{payload_filter.TEST_MAX_CHARS:,}",
}
#: Each test counts against the tenant's ``WEBHOOKS_FILTER_TEST_RATE_LIMIT`` a minute.
RUNS = RunLimit("endpoint-filter-test", "tested filters", "portal/filter_test.html")


@require_GET
@tenant_view(write=True)
def endpoint_filter_test(request: HttpRequest, tenant: Tenant, endpoint_id: str) -> HttpResponse:
    endpoint = endpoint_or_404(tenant, endpoint_id)
    text = request.GET.get("filter")
    if text is None:
        text = json.dumps(endpoint.payload_filter, indent=2) if endpoint.payload_filter else ""
    context = {
        "endpoint": endpoint,
        "text": text,
        "error": "",
        "verdicts": [],
        "section": "endpoints",
        "limits": _LIMITS,
    }
    limited = RUNS.refused(request, tenant, webhooks_settings().filter_test_rate_limit, context)
    if limited is not None:
        return limited
    spec = None
    if len(text) > MAX_TEXT:
        context["error"] = f"A filter is at most {payload_filter.MAX_BYTES} bytes of JSON."
    elif text.strip():
        try:
            spec = payload_filter.filter_validate(json.loads(text))
        except ValueError as exc:  # not JSON, or a FilterError
            error = str(exc) if isinstance(exc, payload_filter.FilterError) else f"Not JSON: {exc}."
            context["error"] = error
    if not context["error"]:
        events = endpoint_recent_bodies(
            endpoint=endpoint,
            limit=payload_filter.TEST_EVENTS,
            max_chars=payload_filter.TEST_MAX_CHARS if spec else 0,
        )
        context["verdicts"] = payload_filter.filter_verdicts(spec, events)
    return render(request, "portal/filter_test.html", context)
