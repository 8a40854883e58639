from django.contrib import admin

from .models import Endpoint, EndpointSecret, EventType, Membership, Tenant


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "tenant__slug"]
    raw_id_fields = ["user", "tenant"]


@admin.register(EventType)
class EventTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "archived", "created_at"]
    list_filter = ["archived"]
    search_fields = ["name", "description"]


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["id", "tenant", "url", "enabled", "disabled_reason", "failing_since"]
    list_filter = ["enabled", "tenant"]
    search_fields = ["id", "url", "tenant__slug"]
    readonly_fields = ["id", "failing_since", "disabled_at", "deleted_at", "created_at"]
    raw_id_fields = ["tenant"]
    filter_horizontal = ["event_types"]


@admin.register(EndpointSecret)
class EndpointSecretAdmin(admin.ModelAdmin):
    """Shows when secrets exist and expire, never their value (stored encrypted)."""

    list_display = ["endpoint", "created_at", "expires_at"]
    fields = ["endpoint", "created_at", "expires_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
