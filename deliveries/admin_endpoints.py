"""Django admin for endpoints (the model is ``endpoints``'): support staff find a tenant's
endpoints, see why one is failing and disable or enable it. The actions go through
``deliveries.services.endpoint_lifecycle`` so that waiting deliveries are cancelled or resumed
and operational webhooks fire; the audit log records who did it. Here, not in
``endpoints.admin``, because those actions reach deliveries.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from endpoints import destinations
from endpoints.admin import DeletedFilter, FailingFilter, TenantSlugFilter
from endpoints.admin_forms import EndpointForm
from endpoints.models import Endpoint, Transformation
from endpoints.services import audit_record
from endpoints.services.transformations import transformation_update

from .services import endpoint_lifecycle

# What the platform writes (state, health, timestamps): shown, never edited here.
_STATE_FIELDS = [
    "enabled",
    "transformation_enabled",
    "disabled_reason",
    "disabled_at",
    "failing_since",
    "consecutive_failures",
    "circuit_state",
    "circuit_opened_at",
    "deleted_at",
    "created_at",
    "updated_at",
]


class TransformationInline(admin.TabularInline):
    """Every saved version, newest first, read-only: tenants edit them in the dashboard or API;
    staff may only switch a transformation off (the action below)."""

    model = Transformation
    fields = ["version", "created_at", "code"]
    readonly_fields = fields
    ordering = ["-version"]
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    inlines = [TransformationInline]
    list_display = [
        "id",
        "tenant",
        "kind",
        "url",
        "enabled",
        "circuit_state",
        "failing_since",
        "consecutive_failures",
        "disabled_reason",
        "created_at",
    ]
    list_filter = [
        "enabled",
        "transformation_enabled",
        "circuit_state",
        FailingFilter,
        DeletedFilter,
        TenantSlugFilter,
        ("disabled_at", admin.DateFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["=id", "url", "description", "tenant__slug"]
    list_select_related = ["tenant"]
    fields = [
        "id",
        "tenant",
        "kind",
        "url",
        "destination",
        "description",
        "headers",
        "event_types",
        "rate_limit",
        "signature_style",
        "payload_filter",
        "retry_schedule",
        "ordered",
        *_STATE_FIELDS,
    ]
    readonly_fields = ["id", "tenant", "kind", *_STATE_FIELDS]
    filter_horizontal = ["event_types"]
    actions = ["disable_endpoints", "enable_endpoints", "disable_transformations"]
    show_full_result_count = False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        if obj is None or not destinations.is_destination(obj.kind):
            fields.remove("destination")  # a destination's options only
        return fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # An endpoint is born with a signing secret the tenant must see once: dashboard or API.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting is a soft delete through the service, from the dashboard or the API.
        return False

    @admin.action(description="Disable selected endpoints (cancels what is waiting)")
    def disable_endpoints(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        count = 0
        for endpoint in queryset.filter(enabled=True, deleted_at__isnull=True):
            endpoint_lifecycle.endpoint_disable(endpoint=endpoint, reason="disabled by support")
            audit_record(
                action="endpoint.disable",
                actor=request.user,
                tenant=endpoint.tenant,
                target=endpoint,
                details={"via": "admin"},
            )
            count += 1
        self.message_user(request, f"Disabled {count} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Enable selected endpoints (resumes cancelled deliveries)")
    def enable_endpoints(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        count = 0
        for endpoint in queryset.filter(enabled=False, deleted_at__isnull=True):
            endpoint_lifecycle.endpoint_enable(endpoint=endpoint)
            audit_record(
                action="endpoint.enable",
                actor=request.user,
                tenant=endpoint.tenant,
                target=endpoint,
                details={"via": "admin"},
            )
            count += 1
        self.message_user(request, f"Enabled {count} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Switch off the transformations of selected endpoints (code kept)")
    def disable_transformations(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        count = 0
        for endpoint in queryset.filter(transformation_enabled=True):
            transformation_update(endpoint=endpoint, enabled=False, actor=request.user, via="admin")
            count += 1
        self.message_user(request, f"Switched off {count} transformation(s).", messages.SUCCESS)
