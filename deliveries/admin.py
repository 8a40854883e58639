from django.contrib import admin

from .models import Attempt, Delivery, Event


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "tenant", "event_type", "created_at", "fanned_out_at"]
    list_filter = ["event_type", "created_at"]
    search_fields = ["id", "tenant__slug", "idempotency_key"]
    list_select_related = ["tenant", "event_type"]
    show_full_result_count = False


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = ["number", "trigger", "started_at", "duration_ms", "response_status", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "event_id",
        "endpoint",
        "status",
        "attempt_count",
        "next_attempt_at",
        "last_status_code",
        "created_at",
    ]
    list_filter = ["status", "event_type", "created_at"]
    search_fields = ["event__id", "endpoint__url", "endpoint__id", "tenant__slug"]
    list_select_related = ["endpoint"]
    inlines = [AttemptInline]
    show_full_result_count = False


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "delivery_id",
        "number",
        "trigger",
        "response_status",
        "error",
        "duration_ms",
        "started_at",
    ]
    list_filter = ["trigger", "response_status", "started_at"]
    search_fields = ["delivery__event__id", "request_url"]
    show_full_result_count = False
