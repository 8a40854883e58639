"""Amazon SNS, standard and FIFO topics: each delivery is a message published to a topic, its
body the webhook's and its attributes the signature headers; a batch is one ``PublishBatch``
(10 at most). A FIFO topic (ARN ending in ``.fifo``) gets ``MessageGroupId`` from a template and
the event id as ``MessageDeduplicationId``. The answer is the message id (and a FIFO topic's
sequence number). boto3, in the sender's thread pool."""

from __future__ import annotations

from typing import Any

from endpoints.destinations import DestinationInvalid, Option

from . import _aws
from .templates import template_check


def _fifo(config: dict[str, Any]) -> bool:
    return config["topic_arn"].endswith(".fifo")


def _check(config: dict[str, Any]) -> str:
    arn = config["topic_arn"]
    if not arn.startswith("arn:") or arn.count(":") != 5:
        raise DestinationInvalid(
            "topic_arn", "Give the topic's ARN, arn:aws:sns:<region>:<account>:<name>."
        )
    _aws.common_check(config)
    if _fifo(config):
        template_check(config["message_group_id"], "message_group_id")
    return arn


class SNSAdapter(_aws.MessageBatchAdapter):
    service = "sns"
    body_field = "Message"
    fifo = staticmethod(_fifo)

    def call(self, client: Any, config: dict[str, Any], entries: list[dict[str, Any]]) -> Any:
        return client.publish_batch(
            TopicArn=config["topic_arn"], PublishBatchRequestEntries=entries
        )


_aws.kind_register(
    name="sns",
    label="Amazon SNS (publish to a topic)",
    options=(
        Option("topic_arn", str, "The topic's ARN (a FIFO topic's ends in .fifo).", True),
        *_aws.common_options(),
        _aws.group_option("topic"),
    ),
    check=_check,
    adapter=SNSAdapter(),
)
