"""Django admin for the delivery log: events, deliveries, attempts (read-only) and jobs.

The tables are the big ones, so: no full counts, no DISTINCT-based filters (the tenant filter
reads the tenants table), joins selected up front, and date filters that need no query.
Replaying goes through ``delivery_replay`` (an action), never by editing a row.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from endpoints.admin import ReadOnlyAdmin, TenantSlugFilter
from endpoints.services import audit_record

# Registers the endpoint admin (autodiscovery imports only each app's ``admin`` module).
from . import admin_endpoints  # noqa: F401
from .models import Attempt, Delivery, Event, Job
from .services.lifecycle import delivery_replay


def _link(model: str, pk: Any, text: Any = None) -> str:
    url = reverse(f"admin:deliveries_{model}_change", args=[pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else pk)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "tenant", "event_type", "created_at", "fanned_out_at", "idempotency_key"]
    list_filter = [TenantSlugFilter, "event_type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=id", "tenant__slug", "=idempotency_key"]
    list_select_related = ["tenant", "event_type"]
    fields = [
        "id",
        "tenant",
        "event_type",
        "idempotency_key",
        "only_endpoint",
        "created_at",
        "fanned_out_at",
        "body",
    ]
    readonly_fields = fields
    show_full_result_count = False


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = [
        "number",
        "trigger",
        "started_at",
        "duration_ms",
        "response_status",
        "error",
        "attempt_link",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="details")
    def attempt_link(self, obj: Attempt) -> str:
        return _link("attempt", obj.pk, "open")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "event_link",
        "tenant",
        "event_type",
        "endpoint_url",
        "status",
        "attempt_count",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = [
        "status",
        TenantSlugFilter,
        "event_type",
        ("created_at", admin.DateFieldListFilter),
        ("finished_at", admin.DateFieldListFilter),
    ]
    search_fields = ["=event__id", "=endpoint__id", "endpoint__url", "tenant__slug"]
    list_select_related = ["endpoint", "tenant", "event_type"]
    fields = [
        "id",
        "event",
        "endpoint",
        "tenant",
        "event_type",
        "status",
        "attempt_count",
        "scheduled_attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "cancel_reason",
        "manual_requested",
        "lease_expires_at",
        "created_at",
        "finished_at",
    ]
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["replay_deliveries"]
    show_full_result_count = False

    @admin.display(description="event", ordering="event_id")
    def event_link(self, obj: Delivery) -> str:
        return _link("event", obj.event_id)

    @admin.display(description="endpoint URL", ordering="endpoint__url")
    def endpoint_url(self, obj: Delivery) -> str:
        return obj.endpoint.url

    @admin.action(description="Replay selected deliveries now")
    def replay_deliveries(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        replayed, refused = 0, []
        for delivery in queryset.select_related("endpoint", "tenant"):
            try:
                delivery_replay(delivery=delivery)
            except ValidationError as exc:
                refused.append(f"{delivery.pk}: {'; '.join(exc.messages)}")
                continue
            audit_record(
                action="delivery.replay",
                actor=request.user,
                tenant=delivery.tenant,
                target=delivery,
                details={"via": "admin"},
            )
            replayed += 1
        self.message_user(request, f"Replaying {replayed} deliveries.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not replayed: " + ", ".join(refused), messages.WARNING)


class AttemptOutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("success", "Success (2xx)"),
            ("http_error", "HTTP error"),
            ("no_response", "No response"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "success":
            return queryset.filter(response_status__gte=200, response_status__lt=300)
        if self.value() == "http_error":
            return queryset.filter(response_status__gt=0).exclude(
                response_status__gte=200, response_status__lt=300
            )
        if self.value() == "no_response":
            return queryset.filter(response_status=0)
        return queryset


class AttemptTenantFilter(TenantSlugFilter):
    field = "delivery__tenant__slug"


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "delivery_link",
        "number",
        "trigger",
        "request_url",
        "response_status",
        "error",
        "duration_ms",
        "started_at",
    ]
    list_filter = [
        AttemptOutcomeFilter,
        "trigger",
        AttemptTenantFilter,
        ("started_at", admin.DateFieldListFilter),
    ]
    search_fields = ["=delivery__event__id", "=endpoint__id", "request_url", "error"]
    list_select_related = ["delivery"]
    readonly_fields = [
        "delivery",
        "endpoint",
        "number",
        "trigger",
        "started_at",
        "duration_ms",
        "request_url",
        "request_headers",
        "response_status",
        "response_headers",
        "response_body",
        "response_body_encoding",
        "error",
    ]
    fields = readonly_fields
    show_full_result_count = False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The record of what was sent is kept whole; retention deletes it with its delivery.
        return False

    @admin.display(description="delivery", ordering="delivery_id")
    def delivery_link(self, obj: Attempt) -> str:
        return _link("delivery", obj.delivery_id)


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "tenant",
        "endpoint",
        "done",
        "total",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["kind", "status", TenantSlugFilter, ("created_at", admin.DateFieldListFilter)]
    search_fields = ["tenant__slug", "=endpoint__id", "created_by__username", "error"]
    list_select_related = ["tenant", "endpoint", "created_by"]
    fields = [
        "id",
        "kind",
        "status",
        "tenant",
        "endpoint",
        "params",
        "total",
        "done",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
