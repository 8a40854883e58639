"""Svix's request and response bodies (camelCase), mapped onto the platform's models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from deliveries.models import Attempt, Delivery, Event
from endpoints.models import Endpoint
from platform_core.api.serializers import AwareDateTimeField

S = serializers
# ISO 8601 the way every DRF DateTimeField here renders it (one field, not one per value).
_time = serializers.DateTimeField().to_representation

# --- input -------------------------------------------------------------------------------------


class SvixIn(S.Serializer):
    """A Svix request body. Svix takes ``null`` in every optional field (its SDKs send it for
    what is unset): null means "not given", unless the field declares ``allow_null``, where
    null keeps the meaning Svix documents (a PATCH clears ``uid``, ``eventTypes``, ...)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            fields = self.fields
            data = {
                key: value
                for key, value in data.items()
                if value is not None
                or key not in fields
                or fields[key].required
                or fields[key].allow_null
            }
        return super().to_internal_value(data)


class StringMap(S.DictField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=S.CharField(allow_blank=True, trim_whitespace=False), **kwargs)


class ApplicationIn(SvixIn):
    name = S.CharField(max_length=200)
    uid = S.CharField(required=False, allow_null=True, max_length=256)
    metadata = StringMap(required=False)
    throttleRate = S.IntegerField(required=False, allow_null=True, min_value=1)  # noqa: N815


class ApplicationPatch(ApplicationIn):
    name = S.CharField(required=False, max_length=200)


class EventTypeIn(SvixIn):
    name = S.CharField(max_length=256)
    description = S.CharField(required=False, allow_blank=True)
    archived = S.BooleanField(required=False)
    deprecated = S.BooleanField(required=False)
    schemas = S.DictField(required=False, allow_null=True)
    featureFlag = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=256)  # noqa: N815
    featureFlags = S.ListField(child=S.CharField(max_length=256), required=False, allow_null=True)  # noqa: N815
    groupName = S.CharField(required=False, allow_null=True, allow_blank=True)  # noqa: N815


class EventTypePatch(EventTypeIn):
    name = S.CharField(required=False, max_length=256)


class EndpointIn(SvixIn):
    url = S.CharField(max_length=2048)
    description = S.CharField(required=False, allow_blank=True, max_length=500)
    uid = S.CharField(required=False, allow_null=True, max_length=256)
    disabled = S.BooleanField(required=False)
    eventTypes = S.ListField(child=S.CharField(), required=False, allow_null=True)  # noqa: N815
    filterTypes = S.ListField(child=S.CharField(), required=False, allow_null=True)  # noqa: N815
    channels = S.ListField(child=S.CharField(), required=False, allow_null=True)
    secret = S.CharField(required=False, allow_null=True)
    throttleRate = S.IntegerField(required=False, allow_null=True)  # noqa: N815
    rateLimit = S.IntegerField(required=False, allow_null=True)  # noqa: N815
    metadata = StringMap(required=False)
    headers = StringMap(required=False)
    version = S.IntegerField(required=False)


class EndpointPatch(EndpointIn):
    url = S.CharField(required=False, max_length=2048)


class RotateIn(SvixIn):
    key = S.CharField(required=False, allow_null=True)
    gracePeriodSeconds = S.IntegerField(required=False, allow_null=True)  # noqa: N815


class HeadersIn(SvixIn):
    headers = S.DictField(child=S.CharField(allow_null=True, allow_blank=True))
    deleteHeaders = S.ListField(child=S.CharField(), required=False)  # noqa: N815


class RecoverIn(SvixIn):
    since = S.DateTimeField()
    until = S.DateTimeField(required=False, allow_null=True)


class ExampleIn(SvixIn):
    eventType = S.CharField(max_length=256)  # noqa: N815
    exampleIndex = S.IntegerField(required=False, min_value=0)  # noqa: N815


class MessageIn(SvixIn):
    eventType = S.CharField(max_length=256)  # noqa: N815
    payload = S.DictField(required=False)
    data = S.DictField(required=False)
    eventId = S.CharField(required=False, allow_null=True, max_length=255)  # noqa: N815
    channels = S.ListField(child=S.CharField(), required=False, allow_null=True)
    tags = S.ListField(child=S.CharField(), required=False, allow_null=True)
    application = ApplicationIn(required=False)
    payloadRetentionPeriod = S.IntegerField(  # noqa: N815
        required=False, allow_null=True, min_value=1, max_value=90
    )
    payloadRetentionHours = S.IntegerField(required=False, allow_null=True, min_value=1)  # noqa: N815
    deliverAt = AwareDateTimeField(required=False, allow_null=True)  # noqa: N815


class PortalAccessIn(SvixIn):
    application = ApplicationIn(required=False)
    expiry = S.IntegerField(required=False, allow_null=True, min_value=60, max_value=7 * 86400)
    readOnly = S.BooleanField(required=False)  # noqa: N815
    featureFlags = S.ListField(child=S.CharField(), required=False)  # noqa: N815
    capabilities = S.ListField(child=S.CharField(), required=False, allow_null=True)
    sessionId = S.CharField(required=False, allow_null=True, max_length=256)  # noqa: N815


class ExpireAllIn(SvixIn):
    expiry = S.IntegerField(required=False, allow_null=True, min_value=0, max_value=7 * 86400)
    sessionIds = S.ListField(  # noqa: N815
        child=S.CharField(max_length=256), required=False, allow_null=True, max_length=1000
    )


# --- output ------------------------------------------------------------------------------------


class ApplicationOut(S.Serializer):
    id = S.CharField(source="public_id")
    uid = S.CharField(allow_null=True)
    name = S.CharField()
    metadata = S.DictField(child=S.CharField())
    throttleRate = S.SerializerMethodField()  # noqa: N815
    createdAt = S.DateTimeField(source="created_at")  # noqa: N815
    updatedAt = S.DateTimeField(source="updated_at")  # noqa: N815

    @extend_schema_field(S.IntegerField(allow_null=True))
    def get_throttleRate(self, obj: Any) -> None:  # noqa: N802
        return None  # throttling is per endpoint here


class EventTypeOut(S.Serializer):
    name = S.CharField()
    description = S.CharField()
    archived = S.BooleanField()
    deprecated = S.BooleanField()
    featureFlag = S.SerializerMethodField()  # noqa: N815
    createdAt = S.DateTimeField(source="created_at")  # noqa: N815
    updatedAt = S.DateTimeField(source="updated_at")  # noqa: N815

    featureFlags = S.SerializerMethodField()  # noqa: N815

    @extend_schema_field(S.CharField(allow_null=True))
    def get_featureFlag(self, obj: Any) -> str | None:  # noqa: N802
        return obj.feature_flag or None

    @extend_schema_field(S.ListField(child=S.CharField(), allow_null=True))
    def get_featureFlags(self, obj: Any) -> list[str] | None:  # noqa: N802
        return [obj.feature_flag] if obj.feature_flag else None

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if self.context.get("with_content", True):
            data["schemas"] = instance.schemas or (
                {"1": instance.schema} if instance.schema else None
            )
        return data


def _endpoint_common(endpoint: Endpoint) -> dict[str, Any]:
    types = [t.name for t in endpoint.event_types.all()] or None
    return {
        "id": endpoint.pk,
        "uid": endpoint.uid,
        "url": endpoint.url,
        "description": endpoint.description,
        "disabled": not endpoint.enabled,
        "eventTypes": types,
        "filterTypes": types,
        "channels": list(endpoint.channels) or None,
        "throttleRate": endpoint.rate_limit,
        "rateLimit": endpoint.rate_limit,
        "version": 1,
        "createdAt": _time(endpoint.created_at),
        "updatedAt": _time(endpoint.updated_at),
    }


class EndpointOut(S.Serializer):
    id = S.CharField()
    uid = S.CharField(allow_null=True)
    url = S.CharField()
    description = S.CharField()
    metadata = S.DictField(child=S.CharField())
    disabled = S.BooleanField()
    eventTypes = S.ListField(child=S.CharField(), allow_null=True)  # noqa: N815
    channels = S.ListField(child=S.CharField(), allow_null=True)
    throttleRate = S.IntegerField(allow_null=True)  # noqa: N815
    version = S.IntegerField()
    createdAt = S.DateTimeField()  # noqa: N815
    updatedAt = S.DateTimeField()  # noqa: N815

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {**_endpoint_common(instance), "metadata": dict(instance.metadata or {})}


class SecretOut(S.Serializer):
    key = S.CharField()


class HeadersOut(S.Serializer):
    headers = S.DictField(child=S.CharField())
    sensitive = S.ListField(child=S.CharField())


class StatsOut(S.Serializer):
    success = S.IntegerField()
    pending = S.IntegerField()
    sending = S.IntegerField()
    fail = S.IntegerField()
    canceled = S.IntegerField()


class RecoverOut(S.Serializer):
    id = S.CharField()
    status = S.ChoiceField(choices=["running", "finished", "failed"])
    task = S.CharField()
    updatedAt = S.DateTimeField()  # noqa: N815


def message_payload(event: Event, with_content: bool) -> dict[str, Any]:
    if not with_content:
        return {}
    if event.payload_purged:
        return {"expired": True}
    payload = event.payload
    return payload if isinstance(payload, dict) else {"data": payload}


def message_out(event: Event, *, with_content: bool) -> dict[str, Any]:
    out = {
        "id": event.pk,
        "eventId": event.idempotency_key,
        "eventType": event.event_type.name,
        "payload": message_payload(event, with_content),
        "channels": list(event.channels) or None,
        "tags": list(event.tags) or None,
        "timestamp": _time(event.created_at),
    }
    if event.deliver_at is not None:
        out["deliverAt"] = _time(event.deliver_at)
    return out


class MessageOut(S.Serializer):
    id = S.CharField()
    eventId = S.CharField(allow_null=True)  # noqa: N815
    eventType = S.CharField()  # noqa: N815
    payload = S.DictField()
    channels = S.ListField(child=S.CharField(), allow_null=True)
    tags = S.ListField(child=S.CharField(), allow_null=True)
    timestamp = S.DateTimeField()
    deliverAt = S.DateTimeField(required=False)  # noqa: N815  (set for a scheduled message)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return message_out(instance, with_content=self.context.get("with_content", True))


# Svix's MessageStatus: 0 success, 1 pending, 2 fail, 3 sending (also: a retry is scheduled),
# 4 canceled.
STATUS_TEXT = {0: "success", 1: "pending", 2: "fail", 3: "sending", 4: "canceled"}


def delivery_status(delivery: Delivery) -> int:
    if delivery.status == Delivery.Status.SUCCEEDED:
        return 0
    if delivery.status == Delivery.Status.FAILED:
        return 2
    if delivery.status == Delivery.Status.CANCELLED:
        return 4
    if delivery.status == Delivery.Status.SENDING or delivery.attempt_count:
        return 3
    return 1


def delivery_state(delivery: Delivery) -> dict[str, Any]:
    code = delivery_status(delivery)
    waiting = delivery.status == Delivery.Status.PENDING and delivery.next_attempt_at
    return {
        "status": code,
        "statusText": STATUS_TEXT[code],
        "nextAttempt": _time(delivery.next_attempt_at) if waiting else None,
    }


class EndpointMessageOut(MessageOut):
    status = S.IntegerField()
    statusText = S.CharField()  # noqa: N815
    nextAttempt = S.DateTimeField(allow_null=True)  # noqa: N815

    def to_representation(self, instance: Any) -> dict[str, Any]:
        with_content = self.context.get("with_content", True)
        return {
            **message_out(instance.event, with_content=with_content),
            **delivery_state(instance),
        }


class MessageEndpointOut(S.Serializer):
    id = S.CharField()
    uid = S.CharField(allow_null=True)
    url = S.CharField()
    description = S.CharField()
    disabled = S.BooleanField()
    eventTypes = S.ListField(child=S.CharField(), allow_null=True)  # noqa: N815
    channels = S.ListField(child=S.CharField(), allow_null=True)
    throttleRate = S.IntegerField(allow_null=True)  # noqa: N815
    status = S.IntegerField()
    statusText = S.CharField()  # noqa: N815
    nextAttempt = S.DateTimeField(allow_null=True)  # noqa: N815
    createdAt = S.DateTimeField()  # noqa: N815
    updatedAt = S.DateTimeField()  # noqa: N815

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {**_endpoint_common(instance.endpoint), **delivery_state(instance)}


class AttemptOut(S.Serializer):
    id = S.CharField()
    msgId = S.CharField()  # noqa: N815
    endpointId = S.CharField()  # noqa: N815
    url = S.CharField()
    response = S.CharField()
    responseStatusCode = S.IntegerField()  # noqa: N815
    responseDurationMs = S.IntegerField()  # noqa: N815
    status = S.IntegerField()
    statusText = S.CharField()  # noqa: N815
    triggerType = S.IntegerField()  # noqa: N815
    timestamp = S.DateTimeField()

    def to_representation(self, instance: Attempt) -> dict[str, Any]:
        from .base import int_id

        code = 0 if instance.succeeded else 2
        if not self.context.get("with_content", True):
            response = "{}"
        elif instance.response_body:
            response = instance.response_body
        else:
            response = instance.error or ""
        return {
            "id": int_id("atmpt_", instance.pk),
            "msgId": instance.delivery.event_id,
            "endpointId": instance.endpoint_id,
            "url": instance.request_url,
            "response": response,
            "responseStatusCode": instance.response_status,
            "responseDurationMs": instance.duration_ms,
            "status": code,
            "statusText": STATUS_TEXT[code],
            "triggerType": 1 if instance.trigger == Attempt.Trigger.MANUAL else 0,
            "timestamp": _time(instance.started_at),
        }


class PortalAccessOut(S.Serializer):
    url = S.CharField()
    token = S.CharField()


class Empty(S.Serializer):
    pass


def _name_components() -> None:
    """OpenAPI components of this API are named ``Svix…``, apart from the native API's."""
    for name, value in list(globals().items()):
        ours = isinstance(value, type) and issubclass(value, S.Serializer)
        if ours and value.__module__ == __name__:
            extend_schema_serializer(component_name=f"Svix{name}")(value)


_name_components()


_LISTS: dict[type, type] = {}


def listed(item: type[S.Serializer]) -> type[S.Serializer]:
    """Svix's list envelope around ``item``, for the OpenAPI document."""
    if item not in _LISTS:
        name = item.__name__
        envelope = type(
            f"ListResponse{name}",
            (S.Serializer,),
            {
                "data": item(many=True),
                "iterator": S.CharField(allow_null=True),
                "prevIterator": S.CharField(allow_null=True, required=False),
                "done": S.BooleanField(),
            },
        )
        _LISTS[item] = extend_schema_serializer(component_name=f"SvixListResponse{name}")(envelope)
    return _LISTS[item]


class TransformationIn(SvixIn):
    code = S.CharField(required=False, allow_null=True, trim_whitespace=False)
    enabled = S.BooleanField(required=False)


class TransformationOut(S.Serializer):
    code = S.CharField(allow_null=True)
    enabled = S.BooleanField()
    updatedAt = S.DateTimeField(allow_null=True)  # noqa: N815


class TransformationSimulateIn(SvixIn):
    code = S.CharField(trim_whitespace=False)
    eventType = S.CharField()  # noqa: N815
    payload = S.JSONField()
    channels = S.ListField(child=S.CharField(), required=False, allow_null=True)


class TransformationSimulateOut(S.Serializer):
    method = S.CharField()
    url = S.CharField()
    payload = S.CharField(help_text="The body it would send (JSON text).")
