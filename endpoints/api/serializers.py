"""Input and output serializers, kept apart: inputs only check shapes and types, services check
the rules; outputs decide what leaves the building (a secret only where the route says so).
Event types, tenants and portal links here; endpoints in ``serializers_endpoints``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from endpoints.models import Tenant
from endpoints.portal import DEFAULT_EXPIRES_IN, MAX_EXPIRES_IN
from platform_core.api.pagination import PageQuerySerializer
from platform_core.api.serializers import StrictCharField

_RETRY_HELP = (
    "Seconds between tries when a delivery fails, e.g. [5, 300, 3600] (at most 30, each from "
    "1 second to 7 days); [] means a single try. null: the event type's schedule, else the "
    "platform's."
)


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "number", "minimum": 1, "maximum": 7 * 86400},
        "maxItems": 30,
        "nullable": True,
    }
)
class RetryScheduleField(serializers.JSONField):
    """Delays in seconds; checked by the services (``endpoints.retry_schedule``), whose errors
    name the retry at fault under this one field."""


def retry_schedule_field(**kwargs: Any) -> serializers.JSONField:
    return RetryScheduleField(allow_null=True, help_text=_RETRY_HELP, **kwargs)


# --- Event types -----------------------------------------------------------------------------


class EventTypeOutSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    schema = serializers.JSONField(allow_null=True)
    example = serializers.JSONField(allow_null=True)
    archived = serializers.BooleanField()
    retry_schedule = retry_schedule_field()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class EventTypeListQuerySerializer(PageQuerySerializer):
    include_archived = serializers.BooleanField(required=False, default=False)


class EventTypeCreateInSerializer(serializers.Serializer):
    name = StrictCharField(max_length=128, help_text="Dotted, such as invoice.paid.")
    description = StrictCharField(required=False, allow_blank=True, default="")
    schema = serializers.JSONField(
        required=False, allow_null=True, help_text="A JSON Schema that payloads must match."
    )
    example = serializers.JSONField(
        required=False, allow_null=True, help_text="An example payload (used by test events)."
    )
    retry_schedule = retry_schedule_field(required=False)


class EventTypeUpdateInSerializer(serializers.Serializer):
    description = StrictCharField(required=False, allow_blank=True)
    schema = serializers.JSONField(required=False, allow_null=True)
    example = serializers.JSONField(required=False, allow_null=True)
    archived = serializers.BooleanField(required=False)
    retry_schedule = retry_schedule_field(required=False)


# --- Tenants ---------------------------------------------------------------------------------


class TenantOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    app_id = serializers.CharField(
        source="public_id", help_text="The tenant's id in the Svix-compatible API (`app_…`)."
    )
    message_format = serializers.ChoiceField(
        choices=Tenant.MessageFormat.choices,
        help_text="`standard`: body {type, timestamp, data} with webhook-* headers; `svix`: the "
        "payload as the body with svix-* headers. Applies to events published afterwards.",
    )
    portal = serializers.SerializerMethodField(
        help_text="The portal's look and the origins that may embed it in an iframe."
    )
    created_at = serializers.DateTimeField()

    def get_portal(self, tenant: Tenant) -> dict[str, Any]:
        return {
            "embed_origins": tenant.portal_embed_origins,
            "logo_url": tenant.portal_logo_url,
            "accent_color": tenant.portal_accent_color,
            "theme": tenant.portal_theme,
        }


class PortalLookSerializer(serializers.Serializer):
    embed_origins = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Origins such as https://app.example.com whose pages may show the portal in "
        "an iframe (up to 10); pages seen through a portal link of the tenant allow them.",
    )
    logo_url = serializers.CharField(required=False, allow_blank=True)
    accent_color = serializers.CharField(required=False, allow_blank=True, help_text="#rrggbb")
    theme = serializers.ChoiceField(choices=["auto", "light", "dark"], required=False)


class TenantCreateInSerializer(serializers.Serializer):
    slug = StrictCharField(max_length=64)
    name = StrictCharField(required=False, allow_blank=True, max_length=200, default="")
    message_format = serializers.ChoiceField(
        choices=Tenant.MessageFormat.choices, required=False, default="standard"
    )


class TenantUpdateInSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, required=False)
    message_format = serializers.ChoiceField(choices=Tenant.MessageFormat.choices, required=False)
    portal = PortalLookSerializer(
        required=False, help_text="Only a platform key may change it: the keys given change."
    )


class PortalLinkInSerializer(serializers.Serializer):
    expires_in = serializers.IntegerField(
        required=False, min_value=60, max_value=MAX_EXPIRES_IN, default=DEFAULT_EXPIRES_IN
    )
    read_only = serializers.BooleanField(
        required=False,
        default=False,
        help_text="The visitor sees endpoints and deliveries and changes nothing.",
    )


class PortalLinkSerializer(serializers.Serializer):
    id = serializers.CharField()
    read_only = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(
        allow_null=True, help_text="When a visitor last entered the portal through it."
    )


class PortalLinkOutSerializer(PortalLinkSerializer):
    url = serializers.CharField(help_text="Shown once: the key is in the fragment.")
    expires_in = serializers.IntegerField()
