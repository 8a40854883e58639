"""Svix's request and response bodies (camelCase), mapped onto the platform's models."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer

from platform_core.api.serializers import AwareDateTimeField

from .serializers_base import (  # noqa: F401  (_time: re-exported for the poller)
    S,
    StringMap,
    SvixIn,
    _time,
    endpoint_common,
    name_components,
)
from .serializers_messages import (  # noqa: F401  (re-exported: views use ``s.MessageOut``)
    AttemptOut,
    EndpointMessageOut,
    MessageEndpointOut,
    MessageOut,
    delivery_state,
    delivery_status,
    message_out,
    message_payload,
)

# --- input -------------------------------------------------------------------------------------


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
        return {**endpoint_common(instance), "metadata": dict(instance.metadata or {})}


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


class PortalAccessOut(S.Serializer):
    url = S.CharField()
    token = S.CharField()


class Empty(S.Serializer):
    pass


# The message, delivery and attempt bodies (their own module; named there the same way).

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


# Every serializer above (the transformation bodies too: defined after the call, they took the
# name of their base SvixIn, so two bodies shared one component).
name_components(globals(), __name__)
