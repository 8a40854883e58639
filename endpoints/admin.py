"""Django admin for support staff: find a tenant's endpoints, see why one is failing, act on it.

State changes (enable, disable, revoke) go through the services, as actions, so that deliveries are
cancelled or resumed, operational webhooks fire and the audit log records who did it; the raw
state fields are read-only here. Secrets and key hashes are never shown. The endpoint admin,
whose actions reach deliveries, is ``deliveries.admin_endpoints``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .admin_forms import EventTypeForm, TenantForm
from .models import (
    ApiKey,
    AuditEntry,
    EndpointSecret,
    EventType,
    Membership,
    PortalLink,
    Tenant,
)
from .selectors import event_type_retry_schedules_changed


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TenantSlugFilter(admin.SimpleListFilter):
    """Filter by tenant from the (small) tenants table, never a DISTINCT over a big table."""

    title = "tenant"
    parameter_name = "tenant"
    field = "tenant__slug"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(slug, slug) for slug in Tenant.objects.values_list("slug", flat=True)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


def _set_or_unset_filter(
    *, title: str, field: str, unset_label: str, set_label: str
) -> type[admin.SimpleListFilter]:
    """A list filter on whether a nullable column is set (deleted, revoked, failing)."""

    class SetOrUnsetFilter(admin.SimpleListFilter):
        parameter_name = title

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            return [("no", unset_label), ("yes", set_label)]

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            if self.value() in ("no", "yes"):
                return queryset.filter(**{f"{field}__isnull": self.value() == "no"})
            return queryset

    SetOrUnsetFilter.title = title
    return SetOrUnsetFilter


DeletedFilter = _set_or_unset_filter(
    title="deleted", field="deleted_at", unset_label="Live", set_label="Deleted"
)


FailingFilter = _set_or_unset_filter(
    title="failing", field="failing_since", unset_label="Healthy", set_label="Failing now"
)


@admin.register(PortalLink)
class PortalLinkAdmin(admin.ModelAdmin):
    """Portal links as made; revoke them from the tenant's support page or the API."""

    list_display = ["id", "tenant", "read_only", "created_at", "expires_at", "revoked_at"]
    list_filter = ["read_only", TenantSlugFilter]
    search_fields = ["id", "tenant__slug"]
    list_select_related = ["tenant"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in PortalLink._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    form = TenantForm
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    list_filter = [("created_at", admin.DateFieldListFilter)]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The slug is in URLs, API paths and keys' scope: renaming it would break them.
        return [*self.readonly_fields, "slug"] if obj is not None else self.readonly_fields


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", TenantSlugFilter]
    search_fields = ["user__username", "user__email", "tenant__slug"]
    raw_id_fields = ["user", "tenant"]
    list_select_related = ["user", "tenant"]


@admin.register(EventType)
class EventTypeAdmin(admin.ModelAdmin):
    form = EventTypeForm
    list_display = ["name", "description", "archived", "created_at", "updated_at"]
    list_filter = ["archived", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Events and subscriptions refer to the type by name in bodies and in receivers' code.
        return [*self.readonly_fields, "name"] if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if "retry_schedule" in form.changed_data:
            event_type_retry_schedules_changed()


@admin.register(EndpointSecret)
class EndpointSecretAdmin(ReadOnlyAdmin):
    """Shows when secrets exist and expire, never their value (stored encrypted)."""

    list_display = ["endpoint", "created_at", "expires_at"]
    fields = ["endpoint", "created_at", "expires_at"]
    readonly_fields = fields
    search_fields = ["=endpoint__id", "endpoint__url"]
    list_select_related = ["endpoint"]


RevokedFilter = _set_or_unset_filter(
    title="revoked", field="revoked_at", unset_label="Live", set_label="Revoked"
)


class ScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("platform", "Platform"), ("tenant", "Tenant")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "platform":
            return queryset.filter(tenant__isnull=True)
        if self.value() == "tenant":
            return queryset.filter(tenant__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    """Keys by prefix; the hash is never shown. Keys are created where they can be shown once."""

    list_display = ["prefix", "name", "tenant", "created_at", "last_used_at", "revoked_at"]
    list_filter = [RevokedFilter, ScopeFilter, TenantSlugFilter, "created_at", "last_used_at"]
    search_fields = ["prefix", "name", "tenant__slug"]
    fields = ["prefix", "name", "tenant", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    list_select_related = ["tenant"]
    actions = ["revoke_keys"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Revoke instead: the audit log keeps pointing at the key.
        return False

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(api_key=api_key)
            services.audit_record(
                action="api_key.revoke",
                actor=request.user,
                tenant=api_key.tenant,
                target=api_key,
                details={"via": "admin", "prefix": api_key.prefix},
            )
            count += 1
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "action",
        "tenant",
        "actor",
        "api_key",
        "target_type",
        "target_id",
    ]
    list_filter = ["action", "target_type", TenantSlugFilter, "created_at"]
    search_fields = ["action", "=target_id", "tenant__slug", "actor__username", "api_key__prefix"]
    fields = [
        "created_at",
        "action",
        "tenant",
        "actor",
        "api_key",
        "target_type",
        "target_id",
        "details",
    ]
    readonly_fields = fields
    list_select_related = ["tenant", "actor", "api_key"]
    show_full_result_count = False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
