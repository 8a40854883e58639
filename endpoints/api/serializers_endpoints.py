"""The native API's endpoint serializers (the endpoint, its secret and circuit), inputs and
outputs kept apart as in ``serializers``: inputs only check shapes and types, services check the
rules; outputs decide what leaves the building (a secret only where the route says so)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from endpoints import destinations
from endpoints.models import Endpoint
from endpoints.services import MAX_CUSTOM_HEADERS, MAX_ROTATION_GRACE_SECONDS, headers_redacted
from platform_core.api.serializers import StrictCharField

from .serializers import retry_schedule_field

_CHANNELS_HELP = (
    "With channels, the endpoint receives only events that share one; empty: not filtered by "
    "channel."
)


_FILTER_HELP = (
    "A filter on the JSON body the endpoint would receive, evaluated at fan-out; null means "
    'every event. E.g. {"data.amount": {"$gte": 1000}, "data.currency": {"$in": ["EUR"]}}. '
    "Operators: $eq $neq $gt $gte $lt $lte $in $nin $exist $regex (RE2), and $and / $or "
    "lists. An event on which it cannot be evaluated skips the endpoint (logged)."
)
_KIND_HELP = (
    "push (default): the platform POSTs each event to the URL. poll: nothing is sent; "
    "consumers read the endpoint's feed at /pollers/{endpoint}/. Any other kind is a "
    "destination (a queue, a stream): it has no URL and takes its options in destination."
)


def _destination_help() -> str:
    parts = []
    for kind in destinations.kinds().values():
        options = ", ".join(
            f"{o.name} ({o.type.__name__}{', required' if o.required else ''}"
            f"{', secret' if o.secret else ''}): {o.help}"
            for o in kind.options
        )
        parts.append(f"{kind.name}: {options}")
    return (
        "A destination's options, by kind; secret options read [redacted] (stored encrypted, "
        "never shown back) and sending [redacted] or omitting them keeps the stored value. "
        + " | ".join(parts)
    )


def _kinds() -> list[str]:
    return [name for name, _ in destinations.kind_choices()]


_ORDERED_HELP = (
    "true: one delivery at a time, in publish order; while one retries, later ones wait "
    "(status held) until it succeeds, exhausts its schedule or is skipped."
)
_SIGNATURE_STYLE_HELP = (
    "How requests are signed: standard (Standard Webhooks, webhook-* headers), svix (the same "
    "under svix-* names), github (X-Hub-Signature-256: sha256=<hex HMAC of the body>, keyed with "
    "the secret string), stripe (Stripe-Signature: t=<ts>,v1=<hex HMAC>, one v1 per live "
    "secret; the body is Stripe's event object, its id the event id), twilio "
    "(X-Twilio-Signature: base64 HMAC-SHA1 of the URL as sent, which carries bodySHA256=<hex "
    "SHA-256 of the body>), ed25519 (Standard Webhooks v1a: an Ed25519 signature; the "
    "endpoint's secret is then its whpk_ public key). Changing between ed25519 and the others "
    "makes a new current secret of the kind the style needs."
)


class EndpointOutSerializer(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=_kinds(), help_text=_KIND_HELP)
    url = serializers.CharField(
        help_text="Empty for a poll endpoint; for a destination, where it sends (no credentials)."
    )
    destination = serializers.SerializerMethodField(help_text=_destination_help())
    description = serializers.CharField()
    event_types = serializers.SerializerMethodField(
        help_text="Subscribed event types; empty means every type."
    )
    headers = serializers.SerializerMethodField(
        help_text="Custom headers; the values of credential headers (Authorization, X-Api-Key, "
        "…-Token, …-Secret) read `[redacted]`: they are stored encrypted and never shown back. "
        "Sending `[redacted]` back keeps the stored value."
    )
    enabled = serializers.BooleanField()
    disabled_reason = serializers.CharField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    failing_since = serializers.DateTimeField(allow_null=True)
    consecutive_failures = serializers.IntegerField()
    circuit_state = serializers.ChoiceField(
        choices=["closed", "open"],
        help_text="open: new deliveries wait while one probe at a time tests the endpoint.",
    )
    circuit_opened_at = serializers.DateTimeField(allow_null=True)
    rate_limit = serializers.IntegerField(
        allow_null=True, help_text="Deliveries per second; null means no limit."
    )
    signature_style = serializers.ChoiceField(
        choices=Endpoint.SignatureStyle.values, help_text=_SIGNATURE_STYLE_HELP
    )
    filter = serializers.JSONField(source="payload_filter", allow_null=True, help_text=_FILTER_HELP)
    retry_schedule = retry_schedule_field()
    ordered = serializers.BooleanField(help_text=_ORDERED_HELP)
    channels = serializers.ListField(child=serializers.CharField(), help_text=_CHANNELS_HELP)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_headers(self, endpoint: Endpoint) -> dict[str, str]:
        return headers_redacted(endpoint.headers or {})

    @extend_schema_field({"type": "object", "additionalProperties": True, "nullable": True})
    def get_destination(self, endpoint: Endpoint) -> dict[str, Any] | None:
        if not destinations.is_destination(endpoint.kind):
            return None
        return destinations.config_redacted(endpoint.kind, endpoint.destination)

    def get_event_types(self, endpoint: Endpoint) -> list[str]:
        # Sorted in Python: the names come from prefetch_related, which a DB ordering would undo.
        return sorted(et.name for et in endpoint.event_types.all())


class EndpointCreatedOutSerializer(EndpointOutSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (for the ed25519 style, the public key). Shown here and "
        "on /secret/."
    )


_HEADERS_HELP = (
    f"Extra request headers (at most {MAX_CUSTOM_HEADERS}); webhook-* and framing headers "
    "are reserved."
)


class EndpointCreateInSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=_kinds(),
        required=False,
        default=Endpoint.Kind.PUSH,
        help_text=_KIND_HELP,
    )
    destination = serializers.JSONField(required=False, help_text=_destination_help())
    url = StrictCharField(
        max_length=2048,
        required=False,
        default="",
        allow_blank=True,
        help_text="http(s) URL that receives the events (a push endpoint's; a poll endpoint has "
        "none).",
    )
    description = StrictCharField(max_length=500, allow_blank=True, required=False, default="")
    event_types = serializers.ListField(
        child=StrictCharField(max_length=128),
        max_length=1000,
        required=False,
        default=list,
        help_text="Event types to receive; empty means every type.",
    )
    headers = serializers.DictField(
        child=StrictCharField(allow_blank=True),
        required=False,
        default=dict,
        help_text=_HEADERS_HELP,
    )
    enabled = serializers.BooleanField(required=False, default=True)
    rate_limit = serializers.IntegerField(
        min_value=1,
        max_value=10_000,
        allow_null=True,
        required=False,
        default=None,
        help_text="Deliveries per second, enforced across workers; null means no limit.",
    )
    signature_style = serializers.ChoiceField(
        choices=Endpoint.SignatureStyle.values,
        required=False,
        default=Endpoint.SignatureStyle.STANDARD,
        help_text=_SIGNATURE_STYLE_HELP,
    )
    filter = serializers.JSONField(
        source="payload_filter", required=False, allow_null=True, help_text=_FILTER_HELP
    )
    retry_schedule = retry_schedule_field(required=False)
    ordered = serializers.BooleanField(required=False, default=False, help_text=_ORDERED_HELP)
    secret = StrictCharField(
        required=False,
        help_text="A whsec_ secret to use (a whsk_ Ed25519 signing key for the ed25519 style); "
        "omitted, one is generated.",
    )
    channels = serializers.ListField(
        child=StrictCharField(max_length=128),
        max_length=10,
        required=False,
        default=list,
        help_text=_CHANNELS_HELP,
    )


class EndpointUpdateInSerializer(serializers.Serializer):
    url = StrictCharField(max_length=2048, required=False)
    channels = serializers.ListField(
        child=StrictCharField(max_length=128), max_length=10, required=False
    )
    description = StrictCharField(max_length=500, allow_blank=True, required=False)
    event_types = serializers.ListField(
        child=StrictCharField(max_length=128), max_length=1000, required=False
    )
    headers = serializers.DictField(
        child=StrictCharField(allow_blank=True), required=False, help_text=_HEADERS_HELP
    )
    enabled = serializers.BooleanField(
        required=False, help_text="false disables (pending deliveries are cancelled)."
    )
    rate_limit = serializers.IntegerField(
        min_value=1,
        max_value=10_000,
        allow_null=True,
        required=False,
        help_text="Deliveries per second; null removes the limit.",
    )
    signature_style = serializers.ChoiceField(
        choices=Endpoint.SignatureStyle.values, required=False, help_text=_SIGNATURE_STYLE_HELP
    )
    filter = serializers.JSONField(
        source="payload_filter",
        required=False,
        allow_null=True,
        help_text=_FILTER_HELP + " null removes it.",
    )
    retry_schedule = retry_schedule_field(required=False)
    ordered = serializers.BooleanField(required=False, help_text=_ORDERED_HELP)
    destination = serializers.JSONField(
        required=False, help_text="A destination's options (all of them, as on creation)."
    )


class SecretOutSerializer(serializers.Serializer):
    secret = serializers.CharField(
        help_text="The current signing secret (whsec_...); for the ed25519 style, the public "
        "key (whpk_...), the signing key never leaves the platform."
    )


class CircuitResetOutSerializer(serializers.Serializer):
    released = serializers.IntegerField(
        help_text="Waiting deliveries made due now (they go out at once)."
    )


class SecretRotateInSerializer(serializers.Serializer):
    grace_period_seconds = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_ROTATION_GRACE_SECONDS,
        help_text="How long the previous secrets keep signing beside the new one (default 86400).",
    )
