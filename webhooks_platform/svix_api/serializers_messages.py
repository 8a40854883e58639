"""Svix's message, message-attempt and endpoint-message bodies, from events, deliveries and
attempts."""

from __future__ import annotations

from typing import Any

from deliveries.models import Attempt, Delivery, Event

from .serializers_base import S, _time, endpoint_common, name_components


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
        return {**endpoint_common(instance.endpoint), **delivery_state(instance)}


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


name_components(globals(), __name__)
