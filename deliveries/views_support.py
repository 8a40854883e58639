"""The support console: every tenant's health, failed deliveries across tenants, bulk replay,
and the audit log. Staff only (``staff_view``); every manual action writes an audit line."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from endpoints.dashboard import audit
from endpoints.models import Endpoint, Tenant
from endpoints.portal import portal_links_expire_all
from endpoints.selectors import (
    audit_entries,
    endpoints_needing_attention,
    tenant_choices,
    tenant_get,
)
from endpoints.views_portal import links_context
from platform_core.dashboard import flat_message, staff_view
from platform_core.replica import reads_may_lag

from . import selectors
from .backlog import WAITING_VIEWS
from .models import Job
from .services.endpoint_lifecycle import endpoint_circuit_reset, endpoint_disable, endpoint_enable
from .services.jobs import job_bulk_replay_create, job_scope
from .services.lifecycle import delivery_replay
from .views import (
    LogFilterForm,
    attempt_view_model,
    delivery_context,
    delivery_template,
    disable_confirm,
    job_json,
    log_page,
)


class SupportFilterForm(LogFilterForm):
    tenant = forms.CharField(
        required=False,
        label="Tenant",
        # Suggests tenants as one types (the page's datalist); a slug or id is accepted as is.
        widget=forms.TextInput(attrs={"list": "tenant-choices", "autocomplete": "off"}),
    )
    endpoint = forms.CharField(required=False, label="Endpoint id")
    waiting = forms.ChoiceField(
        required=False,
        label="Waiting",
        choices=[("", "Any"), *WAITING_VIEWS.items()],
    )

    def clean_tenant(self) -> Any:
        key = self.cleaned_data["tenant"].strip()
        if not key:
            return None
        tenant = tenant_get(key=key)
        if tenant is None:
            raise ValidationError(f"No tenant {key!r}.")
        return tenant

    def clean_endpoint(self) -> str:
        return self.cleaned_data["endpoint"].strip()


def _support_filters(data: Any) -> tuple[SupportFilterForm, dict[str, Any]]:
    form = SupportFilterForm(data)
    return form, form.filters()


@require_GET
@staff_view
def support_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "support/home.html",
        {
            "tenants": selectors.tenants_health(),
            "attention": endpoints_needing_attention(),
            "section": "support",
        },
    )


@require_GET
@staff_view
@reads_may_lag
def support_deliveries(request: HttpRequest) -> HttpResponse:
    # Support comes here to fix what is stuck: with no filter given, show the failed ones and
    # those still waiting on a down endpoint (retrying, behind its open circuit, held), which
    # during an outage are most of them.
    data = request.GET if request.GET else {"waiting": "stuck"}
    form, filters = _support_filters(data)
    qs = selectors.deliveries_filter(**filters)
    if not form.is_valid():
        qs = qs.none()
    return render(
        request,
        "support/deliveries.html",
        {
            "form": form,
            "section": "support-deliveries",
            "tenant_choices": tenant_choices(),
            **log_page(request, qs),
        },
    )


@require_GET
@staff_view
@reads_may_lag
def support_delivery_detail(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = selectors.delivery_get(tenant=None, delivery_id=delivery_id)
    if delivery is None:
        raise Http404("No such delivery.")
    return render(request, delivery_template(request), delivery_context(delivery, support=True))


@require_GET
@staff_view
@reads_may_lag
def support_attempt_detail(request: HttpRequest, attempt_id: int) -> HttpResponse:
    attempt = selectors.attempt_get(tenant=None, attempt_id=attempt_id)
    if attempt is None:
        raise Http404("No such attempt.")
    context = attempt_view_model(attempt)
    context.update(support=True, section="support-deliveries")
    return render(request, "deliveries/attempt_detail.html", context)


@require_POST
@staff_view
def support_delivery_replay(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = selectors.delivery_get(tenant=None, delivery_id=delivery_id)
    if delivery is None:
        raise Http404("No such delivery.")
    try:
        delivery_replay(delivery=delivery)
    except ValidationError as exc:
        messages.error(request, f"Delivery {delivery.pk}: {flat_message(exc)}")
    else:
        audit(request, action="delivery.replay", tenant=delivery.tenant, target=delivery)
        messages.success(request, f"Replay of delivery {delivery.pk} queued.")
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        return redirect(back)
    return redirect("support-delivery-detail", delivery_id=delivery.pk)


def _live_endpoint_or_404(endpoint_id: str) -> Endpoint:
    endpoint = Endpoint.objects.filter(pk=endpoint_id, deleted_at__isnull=True).first()
    if endpoint is None:
        raise Http404("No such endpoint.")
    return endpoint


@require_POST
@staff_view
def support_circuit_reset(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    """Retry now, for any tenant's endpoint: close its circuit and send what waited."""
    endpoint = _live_endpoint_or_404(endpoint_id)
    if not endpoint.enabled:
        messages.error(request, "The endpoint is disabled; enabling it also resets its circuit.")
        return redirect("support-home")
    released = endpoint_circuit_reset(endpoint=endpoint)
    audit(request, action="endpoint.circuit_reset", tenant=endpoint.tenant, target=endpoint)
    messages.success(
        request, f"Circuit of {endpoint.url} reset: {released} waiting deliveries go out now."
    )
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        return redirect(back)
    return redirect("support-home")


def _tenant_or_404(tenant_key: str) -> Tenant:
    tenant = tenant_get(key=tenant_key)
    if tenant is None:
        raise Http404("No such tenant.")
    return tenant


@require_GET
@staff_view
def support_tenant(request: HttpRequest, tenant_key: str) -> HttpResponse:
    """One tenant as support sees it: each endpoint's configuration, subscriptions, circuit and
    rate limit, backlog, and the actions that change them."""
    tenant = _tenant_or_404(tenant_key)
    return render(
        request,
        "support/tenant.html",
        {
            "tenant": tenant,
            "endpoints": selectors.tenant_endpoints_support(tenant=tenant),
            "section": "support",
            **links_context(tenant),
        },
    )


@require_POST
@staff_view
def support_portal_links_expire(request: HttpRequest, tenant_key: str) -> HttpResponse:
    """End every live portal link of a tenant, and the sessions they opened (audited)."""
    tenant = _tenant_or_404(tenant_key)
    with transaction.atomic():
        ended = portal_links_expire_all(tenant=tenant)
        audit(
            request,
            action="portal_link.expire_all",
            tenant=tenant,
            target=tenant,
            details={"links": ended},
        )
    messages.success(request, f"{ended} portal link{pluralize(ended)} ended, with their sessions.")
    return redirect("support-tenant", tenant_key=tenant.slug)


@require_http_methods(["GET", "POST"])
@staff_view
def support_endpoint_toggle(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    """Disable or enable any tenant's endpoint (audited); a disable says who did it. GET asks
    to confirm a disable (the tenant page's Disable button leads there)."""
    endpoint = _live_endpoint_or_404(endpoint_id)
    if request.method == "GET":
        back = reverse("support-tenant", args=[endpoint.tenant.slug])
        return disable_confirm(request, endpoint, back=back, section="support")
    if endpoint.enabled:
        endpoint_disable(endpoint=endpoint, reason="disabled by support")
        audit(request, action="endpoint.disable", tenant=endpoint.tenant, target=endpoint)
        messages.success(request, f"{endpoint.url} disabled; what was waiting is cancelled.")
    else:
        endpoint_enable(endpoint=endpoint)
        audit(request, action="endpoint.enable", tenant=endpoint.tenant, target=endpoint)
        messages.success(request, f"{endpoint.url} enabled; cancelled deliveries still due resume.")
    return redirect("support-tenant", tenant_key=endpoint.tenant.slug)


@require_POST
@staff_view
def support_bulk_replay(request: HttpRequest) -> HttpResponse:
    form, filters = _support_filters(request.POST)
    if not form.is_valid():
        messages.error(request, "The filters are not valid; nothing was replayed.")
        return redirect("support-deliveries")
    tenant = filters.pop("tenant", None)
    if request.POST.get("scope") == "all" and request.POST.get("confirmed") != "1":
        # Replaying everything that matches is one click away from thousands of requests:
        # say how many first, and go only on a second, explicit yes.
        matching = selectors.deliveries_filter(tenant=tenant, **filters).count()
        fields = [(k, v) for k, v in request.POST.items() if k not in ("csrfmiddlewaretoken",)]
        return render(
            request,
            "support/bulk_replay_confirm.html",
            {
                "count": matching,
                "tenant": tenant,
                "filters": filters,
                "fields": fields,
                "section": "support-deliveries",
            },
        )
    ids: list[int] = []
    if request.POST.get("scope") == "selected":
        ids = [int(v) for v in request.POST.getlist("delivery_ids") if v.isascii() and v.isdigit()]
        if not ids:
            messages.error(request, "Select at least one delivery, or replay all that match.")
            return redirect("support-deliveries")
        if request.POST.get("confirmed") != "1":
            # A few ticks can be many requests to receivers: say which, and go on a second yes.
            chosen = list(selectors.deliveries_filter().filter(pk__in=ids).order_by("id")[:100])
            fields = [
                (k, v)
                for k in request.POST
                if k != "csrfmiddlewaretoken"
                for v in request.POST.getlist(k)
            ]
            return render(
                request,
                "support/bulk_replay_confirm.html",
                {
                    "count": len(set(ids)),
                    "selected": chosen,
                    "fields": fields,
                    "section": "support-deliveries",
                },
            )
    for key in ("since", "until"):
        if key in filters:
            filters[key] = filters[key].isoformat()
    try:
        job = job_bulk_replay_create(
            tenant=tenant, filters=filters, delivery_ids=ids or None, user=request.user
        )
    except ValidationError as exc:
        messages.error(request, flat_message(exc))
        return redirect("support-deliveries")
    audit(
        request,
        action="delivery.bulk_replay",
        tenant=tenant,
        target=job,
        details={"filters": filters, "delivery_ids": ids, "scope": request.POST.get("scope")},
    )
    return redirect("support-job", job_id=job.pk)


@require_GET
@staff_view
def support_job(request: HttpRequest, job_id: int) -> HttpResponse:
    job = selectors.job_get(tenant=None, job_id=job_id)
    if job is None:
        raise Http404("No such job.")
    return render(
        request,
        "support/job.html",
        {"job": job, "scope": job_scope(job), "section": "support-jobs"},
    )


JOB_STATUSES = {s.value for s in Job.Status}


@require_GET
@staff_view
def support_jobs(request: HttpRequest) -> HttpResponse:
    """Every bulk action, newest first: what it covered, who started it, how far it got."""
    qs = Job.objects.select_related("tenant", "endpoint", "created_by").order_by("-id")
    status = request.GET.get("status", "")
    if status in JOB_STATUSES:
        qs = qs.filter(status=status)
    return render(
        request,
        "support/jobs.html",
        {
            "status": status,
            "statuses": Job.Status.choices,
            "section": "support-jobs",
            **log_page(request, qs),
        },
    )


@require_GET
@staff_view
def support_job_status(request: HttpRequest, job_id: int) -> HttpResponse:
    job = selectors.job_get(tenant=None, job_id=job_id)
    if job is None:
        raise Http404("No such job.")
    return job_json(job)


@require_GET
@staff_view
def support_audit(request: HttpRequest) -> HttpResponse:
    tenant_key = request.GET.get("tenant", "").strip()
    tenant = tenant_get(key=tenant_key) if tenant_key else None
    if tenant_key and tenant is None:
        messages.error(request, f"No tenant {tenant_key!r}.")
    qs = audit_entries(tenant=tenant, action=request.GET.get("action", "").strip() or None)
    if tenant_key and tenant is None:
        qs = qs.none()
    return render(
        request,
        "support/audit.html",
        {
            "tenant_key": tenant_key,
            "tenant_choices": tenant_choices(),
            "action": request.GET.get("action", ""),
            "section": "support-audit",
            **log_page(request, qs),
        },
    )
