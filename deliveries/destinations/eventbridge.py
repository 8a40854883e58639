"""Amazon EventBridge: one event per delivery on a bus, ``PutEvents`` with up to 10 a call. The
event's ``detail-type`` is the event type and its ``source`` an option, so rules match on them;
EventBridge events have no attributes, so the detail is the envelope Kinesis records carry:
``{"headers": {...}, "body": "<the webhook body>"}`` (verify over ``body``). The answer is the
EventBridge event id. boto3, in the sender's thread pool."""

from __future__ import annotations

from typing import Any

from endpoints.destinations import DestinationInvalid, Option

from . import _aws
from .base import Answer, Message
from .kinesis import record_data


def _check(config: dict[str, Any]) -> str:
    if not config["source"].strip() or config["source"].startswith("aws."):
        raise DestinationInvalid("source", "Give a source of your own (aws.* is reserved).")
    _aws.common_check(config)
    return f"eventbridge://{config['region']}/{config['event_bus']}"


class EventBridgeAdapter(_aws.BotoAdapter):
    batch_size = 10
    service = "events"

    def send(self, client: Any, config: dict[str, Any], messages: list[Message]) -> list[Answer]:
        entries = [
            {
                "Source": config["source"],
                "DetailType": m.event_type or "webhook",
                "Detail": record_data(m).decode(),
                "EventBusName": config["event_bus"],
            }
            for m in messages
        ]
        answer, refused = _aws.called(
            "eventbridge", len(messages), lambda: client.put_events(Entries=entries)
        )
        if refused is not None:
            return refused
        return _aws.record_answers(
            "eventbridge",
            answer.get("Entries", []),
            len(messages),
            missing="the event",
            accepted=lambda entry: Answer(ok=True, message_id=str(entry.get("EventId", ""))),
        )


_aws.kind_register(
    name="eventbridge",
    label="Amazon EventBridge (an event on a bus)",
    options=(
        Option("event_bus", str, "The bus's name or ARN.", default="default"),
        Option("source", str, "The events' source, e.g. com.example.webhooks.", True),
        *_aws.common_options(),
    ),
    check=_check,
    adapter=EventBridgeAdapter(),
)
