"""Input and output serializers for events, deliveries, attempts, jobs and endpoint stats."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deliveries.errors import PublishError
from deliveries.models import Delivery, Event, Job
from deliveries.services.jobs import job_outcomes, job_scope
from deliveries.services.publishing import payload_check
from platform_core.api.pagination import PageQuerySerializer
from platform_core.api.serializers import AwareDateTimeField, StrictCharField


class _WindowSerializer(serializers.Serializer):
    since = serializers.DateTimeField(
        required=False, help_text="ISO 8601, inclusive; without an offset, UTC."
    )
    until = serializers.DateTimeField(required=False, help_text="ISO 8601, exclusive.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and until <= since:
            raise serializers.ValidationError({"until": "until must be after since."})
        return attrs


# --- Deliveries and attempts -----------------------------------------------------------------


class DeliveryOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event_id = serializers.CharField()
    endpoint_id = serializers.CharField()
    event_type = serializers.CharField(source="event_type.name")
    status = serializers.ChoiceField(choices=Delivery.Status.choices)
    attempt_count = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    cancel_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class AttemptOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    trigger = serializers.CharField(help_text="scheduled or manual")
    started_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField()
    request_url = serializers.CharField()
    request_headers = serializers.DictField(child=serializers.CharField())
    response_status = serializers.IntegerField(help_text="0 when no response came back.")
    response_headers = serializers.DictField(child=serializers.CharField())
    response_body = serializers.CharField(help_text="The first bytes of the response body.")
    response_body_encoding = serializers.CharField(help_text="utf-8, or base64 for binary bodies.")
    error = serializers.CharField()


DETAIL_ATTEMPTS = 20


class DeliveryDetailOutSerializer(DeliveryOutSerializer):
    attempts = serializers.SerializerMethodField(
        help_text=f"The newest {DETAIL_ATTEMPTS} attempts, in the order they were made; every "
        "attempt, in pages, newest first, at `attempts/`."
    )
    attempts_more = serializers.SerializerMethodField(
        help_text="True when older attempts are not in `attempts`."
    )

    @extend_schema_field(AttemptOutSerializer(many=True))
    def get_attempts(self, delivery: Delivery) -> list[dict[str, Any]]:
        newest = self.context["attempts"][:DETAIL_ATTEMPTS]
        return AttemptOutSerializer(list(reversed(newest)), many=True).data

    @extend_schema_field(serializers.BooleanField())
    def get_attempts_more(self, delivery: Delivery) -> bool:
        return len(self.context["attempts"]) > DETAIL_ATTEMPTS


class DeliveryListQuerySerializer(PageQuerySerializer, _WindowSerializer):
    status = serializers.ChoiceField(choices=Delivery.Status.values, required=False)
    endpoint = StrictCharField(required=False, max_length=40, help_text="An endpoint id.")
    event_type = StrictCharField(required=False, max_length=128)


# --- Events ----------------------------------------------------------------------------------


class EventOutSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Also the webhook-id header receivers deduplicate on.")
    event_type = serializers.CharField(source="event_type.name")
    payload = serializers.JSONField()
    idempotency_key = serializers.CharField(allow_null=True)
    only_endpoint_id = serializers.CharField(
        allow_null=True, help_text="Set for a test event, which goes to this endpoint only."
    )
    channels = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    deliver_at = serializers.DateTimeField(
        allow_null=True,
        help_text="A scheduled event: its deliveries wait until then. null: sent at once.",
    )


class EventDetailOutSerializer(EventOutSerializer):
    deliveries = serializers.SerializerMethodField()

    @extend_schema_field(DeliveryOutSerializer(many=True))
    def get_deliveries(self, event: Event) -> list[dict[str, Any]]:
        return DeliveryOutSerializer(self.context["deliveries"], many=True).data


class EventCreateInSerializer(serializers.Serializer):
    event_type = StrictCharField(max_length=128, help_text="A name from the catalogue.")
    payload = serializers.JSONField(
        help_text="A JSON object (events are objects, as in Standard Webhooks and Svix); sent as "
        "the body's `data`."
    )
    channels = serializers.ListField(
        child=StrictCharField(max_length=128),
        max_length=10,
        required=False,
        help_text="Only endpoints with one of these channels, and endpoints without channels, "
        "receive the event.",
    )
    deliver_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        help_text="ISO 8601 with an offset, up to 30 days ahead: the deliveries are created now "
        "and wait until then (a time without an offset, a bare date or a week date is refused; "
        "one already past means at once).",
    )
    idempotency_key = StrictCharField(
        required=False,
        allow_null=True,
        max_length=255,
        help_text="The same key again returns the first event and sends nothing new (null: no "
        "key). A single publish also takes it as the `Idempotency-Key` header; both given must "
        "agree.",
    )

    def validate_payload(self, value: Any) -> Any:
        try:
            payload_check(value)
        except PublishError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value


class EventBatchItemInSerializer(EventCreateInSerializer):
    """One item of a batch: a single publish's body (``idempotency_key`` included)."""


class EventBatchInSerializer(serializers.Serializer):
    events = serializers.ListField(
        # A null item is that item's error, not the whole batch's.
        child=serializers.JSONField(allow_null=True),
        min_length=1,
        max_length=1000,
        help_text="1 to 1,000 events, each as a single publish takes it (plus an optional "
        "`idempotency_key`). Each is checked on its own: a bad one does not stop the others.",
    )


class BatchItemErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="`validation_error` or `payload_too_large`.")
    message = serializers.CharField()
    fields = serializers.DictField()


class EventBatchItemOutSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in the request.")
    status = serializers.ChoiceField(
        choices=["created", "existing", "error"],
        help_text="`existing`: the idempotency key was published before (or earlier in this "
        "batch) and `event` is that first event; nothing new is sent.",
    )
    event = EventOutSerializer(allow_null=True)
    error = BatchItemErrorSerializer(allow_null=True)


class EventBatchOutSerializer(serializers.Serializer):
    data = EventBatchItemOutSerializer(many=True)
    created = serializers.IntegerField()
    existing = serializers.IntegerField()
    errors = serializers.IntegerField()


class EventListQuerySerializer(PageQuerySerializer, _WindowSerializer):
    event_type = StrictCharField(required=False, max_length=128)
    scheduled = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only events whose deliver_at is still ahead; false: only the others.",
    )


# --- Endpoint actions ------------------------------------------------------------------------


class TestEventInSerializer(serializers.Serializer):
    event_type = StrictCharField(
        max_length=128, help_text='Its example payload is sent (or {"test": true}).'
    )


class RecoverInSerializer(_WindowSerializer):
    since = serializers.DateTimeField(help_text="Re-send deliveries that failed from then on.")


class StatsQuerySerializer(_WindowSerializer):
    pass


class StatsOutSerializer(serializers.Serializer):
    deliveries = serializers.DictField(
        child=serializers.IntegerField(), help_text="Deliveries by status."
    )
    attempts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Attempts: succeeded, failed_http, no_response, total.",
    )


class JobOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Job.Kind.choices)
    status = serializers.ChoiceField(choices=Job.Status.choices)
    endpoint_id = serializers.CharField(allow_null=True)
    params = serializers.SerializerMethodField(
        help_text="What the job ran on: its window and filters."
    )
    outcomes = serializers.SerializerMethodField(
        help_text="What became of the deliveries it sent again, now: delivered, still_failing, "
        "in_progress, cancelled, skipped (not sent: disabled endpoint, mid-attempt, payload "
        "gone); counted over the first `tracked` of them."
    )
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    progress = serializers.FloatField(help_text="0.0 to 1.0")
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.DictField())
    def get_params(self, job: Job) -> dict[str, Any]:
        return job_scope(job)

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_outcomes(self, job: Job) -> dict[str, int]:
        return job_outcomes(job)
