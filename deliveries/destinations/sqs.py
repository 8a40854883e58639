"""Amazon SQS, standard and FIFO queues: each delivery is a message whose body is the webhook's
and whose attributes are its signature headers; a batch is one ``SendMessageBatch`` (10 at most).
A FIFO queue (its name ends in ``.fifo``) takes a ``MessageGroupId`` from a template (one group
keeps the order; ``ordered`` sends one at a time) and the event id as ``MessageDeduplicationId``,
so a retry within SQS's five minutes is not a second message. The answer is the message id (and
the sequence number of a FIFO queue).

boto3, which is synchronous: every call runs in the sender's bounded thread pool, off its event
loop. An ``endpoint_url`` (a VPC endpoint, a local stand-in) is checked by the SSRF rules."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from endpoints import destinations
from endpoints.destinations import DestinationInvalid, Kind, Option

from . import _aws
from .base import Answer, Message
from .templates import template_check


def _check(config: dict[str, Any]) -> str:
    queue_url = config["queue_url"]
    try:
        parts = urlsplit(queue_url)
    except ValueError as exc:
        raise DestinationInvalid("queue_url", f"The URL is malformed: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.count("/") != 2:
        raise DestinationInvalid(
            "queue_url",
            "Give the queue's URL, https://sqs.<region>.amazonaws.com/<account>/<name>.",
        )
    _aws.common_check(config)
    if _fifo(config):
        template_check(config["message_group_id"], "message_group_id")
    return queue_url


def _fifo(config: dict[str, Any]) -> bool:
    return config["queue_url"].rstrip("/").endswith(".fifo")


class SQSAdapter(_aws.BotoAdapter):
    batch_size = 10
    service = "sqs"

    def send(self, client: Any, config: dict[str, Any], messages: list[Message]) -> list[Answer]:
        return _aws.batch_sent(
            "sqs",
            config,
            messages,
            body_field="MessageBody",
            fifo=_fifo(config),
            send=lambda entries: client.send_message_batch(
                QueueUrl=config["queue_url"], Entries=entries
            ),
        )


destinations.kind_register(
    Kind(
        name="sqs",
        label="Amazon SQS (standard or FIFO queue)",
        options=(
            Option("queue_url", str, "The queue's URL (a FIFO queue's name ends in .fifo).", True),
            *_aws.common_options(),
            Option(
                "message_group_id",
                str,
                "A FIFO queue's group id; may use {event_type}, {event_id}, {tenant}, {date}.",
                default="{tenant}",
            ),
        ),
        package="boto3",
        module="boto3",
        check=_check,
        address=_aws.address,
        adapter=SQSAdapter(),
    )
)
