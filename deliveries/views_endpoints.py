"""Tenant portal pages for endpoints, their delivery logs and test events; services do the work.
Here, not in ``endpoints``, because they show deliveries and change them (disabling cancels,
enabling resumes: ``deliveries.services.endpoint_lifecycle``). The secret pages, which need
only endpoints, are ``endpoints.views_secrets``."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from endpoints import selectors, services, url_safety
from endpoints.dashboard import audit, endpoint_or_404, tenant_view
from endpoints.forms import EndpointForm, endpoint_form_initial, service_kwargs
from endpoints.models import Endpoint, Tenant
from endpoints.retry_schedule import schedule_text
from endpoints.verify_snippets import verify_snippets
from endpoints.views_secrets import ROTATION_GRACE_CHOICES
from platform_core.conf import webhooks_settings
from platform_core.replica import lagging_reads, replica_notice

from . import PublishError
from .feed import consumers_lag
from .models import FeedFetch
from .selectors import deliveries_filter, endpoints_health
from .services import endpoint_lifecycle
from .services.publishing import event_send_test
from .views import RECOVER_PRESETS, disable_confirm, log_page
from .views_charts import endpoint_charts, endpoint_latency_charts

# --- Endpoints -------------------------------------------------------------------------------


@require_GET
@tenant_view
def endpoint_list(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    # Keyset pages, newest first (endpoint ids are time-ordered): a tenant with thousands of
    # endpoints gets pages of 50, not one page of a megabyte.
    page = log_page(request, selectors.endpoints_for_tenant(tenant=tenant))
    health = endpoints_health(endpoint_ids=[e.pk for e in page["items"]])
    rows = [{"endpoint": e, **health[e.pk]} for e in page["items"]]
    return render(
        request,
        "portal/endpoint_list.html",
        {"rows": rows, "total": page["matching"], "section": "endpoints", **page},
    )


def _warn_if_unresolved(request: HttpRequest, url: str) -> None:
    """A host that does not resolve is accepted (its DNS may come later), and said so."""
    host = url_safety.host_unresolved(url)
    if host is not None:
        messages.warning(
            request,
            f"{host} does not resolve right now. The endpoint is saved; deliveries to it fail "
            "(and are retried) until it does.",
        )


def _ping(request: HttpRequest, endpoint: Endpoint, names: list[str]) -> None:
    """A test event to a new endpoint, of the first of ``names`` (its subscriptions, else the
    catalogue: a new endpoint's form offers live types only)."""
    if not endpoint.enabled or not names:
        why = "it is disabled" if not endpoint.enabled else "the event catalogue is empty"
        messages.info(request, f"No test event was sent: {why}.")
        return
    try:
        event = event_send_test(endpoint=endpoint, event_type=names[0])
    except PublishError as exc:
        messages.error(request, f"Could not send the test event: {exc}.")
        return
    audit(request, action="endpoint.test_send", tenant=endpoint.tenant, target=endpoint)
    messages.success(
        request,
        f"Test event {event.pk} ({names[0]}) sent to check the endpoint; its attempt appears "
        'below. It carries "test": true and the x-webhook-test header.',
    )


@tenant_view(write=True)
def endpoint_create(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, _ = services.endpoint_create(
                tenant=tenant,
                kind=form.cleaned_data["kind"] or Endpoint.Kind.PUSH,
                **service_kwargs(form),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            snapshot = services.endpoint_snapshot(endpoint)
            details = {k: snapshot[k] for k in ("url", "event_types", "channels") if snapshot[k]}
            audit(
                request, action="endpoint.create", tenant=tenant, target=endpoint, details=details
            )
            messages.success(request, "Endpoint created. Reveal its signing secret below.")
            _warn_if_unresolved(request, endpoint.url)
            if form.cleaned_data["ping"]:
                names = form.cleaned_data["event_types"] or [t.name for t in form.catalogue]
                _ping(request, endpoint, names)
                return redirect(reverse("endpoint-detail", args=[endpoint.pk]) + "?watch=1#recent")
            return redirect("endpoint-detail", endpoint_id=endpoint.pk)
    return render(
        request,
        "portal/endpoint_form.html",
        {"form": form, "section": "endpoints", "new": True, **_form_context()},
    )


def _feed_context(endpoint: Endpoint) -> dict[str, Any]:
    """A poll endpoint's page: where its feed is read, its consumers' lag, its recent reads."""
    if endpoint.kind != Endpoint.Kind.POLL:
        return {}
    return {
        "feed_path": f"/api/v1/tenants/{endpoint.tenant.slug}/pollers/{endpoint.pk}/",
        "feed_consumers": consumers_lag(endpoint=endpoint),
        "feed_fetches": list(FeedFetch.objects.filter(endpoint=endpoint).order_by("-id")[:10]),
    }


def _form_context() -> dict[str, str]:
    return {"platform_retry_schedule": schedule_text(webhooks_settings().retry_schedule)}


@tenant_view(write=True)
def endpoint_edit(request: HttpRequest, tenant: Tenant, endpoint_id: str) -> HttpResponse:
    endpoint = endpoint_or_404(tenant, endpoint_id)
    initial = endpoint_form_initial(endpoint)
    form = EndpointForm(request.POST or None, initial=initial, subscribed=initial["event_types"])
    if request.method == "POST" and form.is_valid():
        before = services.endpoint_snapshot(endpoint)
        try:
            endpoint_lifecycle.endpoint_update(endpoint=endpoint, **service_kwargs(form))
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            after = services.endpoint_snapshot(endpoint)
            for action, details in services.endpoint_change_actions(before, after):
                audit(request, action=action, tenant=tenant, target=endpoint, details=details)
            messages.success(request, "Endpoint saved.")
            if after["url"] != before["url"]:
                _warn_if_unresolved(request, endpoint.url)
            return redirect("endpoint-detail", endpoint_id=endpoint.pk)
    return render(
        request,
        "portal/endpoint_form.html",
        {
            "form": form,
            "endpoint": endpoint,
            "section": "endpoints",
            "new": False,
            **_form_context(),
        },
    )


def _test_payload_context(catalogue: list[Any], default: str) -> dict[str, str]:
    """The test form's payload box: the chosen type's example, and every type's (the page's
    script swaps them as the type changes, unless the text was edited)."""
    examples = {
        t.name: json.dumps(t.example if t.example is not None else {"test": True}, indent=2)
        for t in catalogue
    }
    first = default or (catalogue[0].name if catalogue else "")
    return {"test_payload": examples.get(first, ""), "test_examples_json": json.dumps(examples)}


@require_GET
@tenant_view
def endpoint_detail(request: HttpRequest, tenant: Tenant, endpoint_id: str) -> HttpResponse:
    endpoint = endpoint_or_404(tenant, endpoint_id)
    with lagging_reads(request):  # the log and the charts may lag; the endpoint itself may not
        recent = list(deliveries_filter(tenant=tenant, endpoint=endpoint).order_by("-id")[:15])
        # A poll endpoint makes no attempts: its page has no attempt charts.
        poll = endpoint.kind == Endpoint.Kind.POLL
        charts = [] if poll else endpoint_charts(endpoint=endpoint)
        latency_charts = [] if poll else endpoint_latency_charts(endpoint=endpoint)
        lag = replica_notice(request)
    subscribed = [t.name for t in endpoint.event_types.all()]
    catalogue = list(selectors.event_types_list())
    job_id = request.GET.get("job", "")
    return render(
        request,
        "portal/endpoint_detail.html",
        {
            "endpoint": endpoint,
            "subscribed": subscribed,
            "catalogue": catalogue,
            "test_default": subscribed[0] if subscribed else "",
            **_test_payload_context(catalogue, subscribed[0] if subscribed else ""),
            "recent": recent,
            "charts": charts,
            "latency_charts": latency_charts,
            "grace_choices": ROTATION_GRACE_CHOICES,
            "old_secret_until": services.endpoint_secret_old_until(endpoint=endpoint),
            "verify_snippets": verify_snippets(tenant.message_format, endpoint.signature_style),
            "payload_filter_json": json.dumps(endpoint.payload_filter or {}),
            **_feed_context(endpoint),
            "endpoint_retry_schedule": (
                "none, a single try"
                if endpoint.retry_schedule == []
                else schedule_text(endpoint.retry_schedule)
            ),
            "job_url": reverse("job-status", args=[job_id])
            if job_id.isascii() and job_id.isdigit()
            else "",
            "watch": request.GET.get("watch") == "1",
            "recover_presets": RECOVER_PRESETS,
            "section": "endpoints",
            **lag,
        },
    )


@tenant_view(write=True)
def endpoint_delete(request: HttpRequest, tenant: Tenant, endpoint_id: str) -> HttpResponse:
    endpoint = endpoint_or_404(tenant, endpoint_id)
    if request.method == "POST":
        endpoint_lifecycle.endpoint_delete(endpoint=endpoint)
        audit(request, action="endpoint.delete", tenant=tenant, target=endpoint)
        messages.success(request, f"Endpoint {endpoint.url} deleted.")
        return redirect("endpoint-list")
    return render(
        request, "portal/endpoint_delete.html", {"endpoint": endpoint, "section": "endpoints"}
    )


@require_http_methods(["GET", "POST"])
@tenant_view(write=True)
def endpoint_toggle(request: HttpRequest, tenant: Tenant, endpoint_id: str) -> HttpResponse:
    """POST disables or enables; GET asks to confirm a disable (the Disable button's page)."""
    endpoint = endpoint_or_404(tenant, endpoint_id)
    if request.method == "GET":
        back = reverse("endpoint-detail", args=[endpoint.pk])
        return disable_confirm(request, endpoint, back=back, section="endpoints")
    if endpoint.enabled:
        endpoint_lifecycle.endpoint_disable(endpoint=endpoint, reason="disabled by user")
        audit(request, action="endpoint.disable", tenant=tenant, target=endpoint)
        messages.success(request, "Endpoint disabled; waiting deliveries were cancelled.")
    else:
        endpoint_lifecycle.endpoint_enable(endpoint=endpoint)
        audit(request, action="endpoint.enable", tenant=tenant, target=endpoint)
        messages.success(request, "Endpoint enabled; recent cancelled deliveries will be resent.")
    return redirect("endpoint-detail", endpoint_id=endpoint.pk)


@require_POST
@tenant_view(write=True)
def endpoint_circuit_reset(request: HttpRequest, tenant: Tenant, endpoint_id: str) -> HttpResponse:
    endpoint = endpoint_or_404(tenant, endpoint_id)
    if not endpoint.enabled:
        messages.error(request, "The endpoint is disabled; enabling it also resets its circuit.")
        return redirect("endpoint-detail", endpoint_id=endpoint.pk)
    released = endpoint_lifecycle.endpoint_circuit_reset(endpoint=endpoint)
    audit(request, action="endpoint.circuit_reset", tenant=tenant, target=endpoint)
    messages.success(
        request,
        f"Circuit reset: {released} waiting deliveries are being sent now."
        if released
        else "Circuit reset: new deliveries go out at once.",
    )
    return redirect("endpoint-detail", endpoint_id=endpoint.pk)


@require_POST
@tenant_view(write=True)
def endpoint_send_test(request: HttpRequest, tenant: Tenant, endpoint_id: str) -> HttpResponse:
    endpoint = endpoint_or_404(tenant, endpoint_id)
    if not endpoint.enabled:
        messages.error(request, "The endpoint is disabled; enable it to send a test event.")
        return redirect("endpoint-detail", endpoint_id=endpoint.pk)
    text = request.POST.get("payload", "").strip()
    try:
        # An edited payload, or (empty) the type's example.
        payload = json.loads(text) if text else None
    except ValueError as exc:
        messages.error(request, f"The test payload is not valid JSON: {exc}.")
        return redirect(reverse("endpoint-detail", args=[endpoint.pk]) + "#test")
    try:
        event = event_send_test(
            endpoint=endpoint, event_type=request.POST.get("event_type", ""), payload=payload
        )
    except PublishError as exc:
        messages.error(request, f"Could not send the test event: {exc}.")
        return redirect("endpoint-detail", endpoint_id=endpoint.pk)
    audit(request, action="endpoint.test_send", tenant=tenant, target=endpoint)
    messages.success(request, f"Test event {event.pk} sent; its attempt appears below.")
    return redirect(reverse("endpoint-detail", args=[endpoint.pk]) + "?watch=1#recent")
