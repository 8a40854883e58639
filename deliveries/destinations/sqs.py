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

from endpoints.destinations import DestinationInvalid, Option

from . import _aws
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


class SQSAdapter(_aws.MessageBatchAdapter):
    service = "sqs"
    body_field = "MessageBody"
    fifo = staticmethod(_fifo)

    def call(self, client: Any, config: dict[str, Any], entries: list[dict[str, Any]]) -> Any:
        return client.send_message_batch(QueueUrl=config["queue_url"], Entries=entries)


_aws.kind_register(
    name="sqs",
    label="Amazon SQS (standard or FIFO queue)",
    options=(
        Option("queue_url", str, "The queue's URL (a FIFO queue's name ends in .fifo).", True),
        *_aws.common_options(),
        _aws.group_option("queue"),
    ),
    check=_check,
    adapter=SQSAdapter(),
)
