"""Amazon Kinesis Data Streams: one record per event, ``PutRecords`` with up to 500 a call. A
record has no attributes, so its data is a small JSON envelope: ``{"headers": {...}, "body":
"<the webhook body>"}`` (verify the signature over ``body``, the exact string signed). The
partition key comes from a template (default ``{tenant}``: one shard, so ``ordered`` keeps publish
order). The answer is the sequence number and shard. boto3, in the sender's thread pool."""

from __future__ import annotations

import json
from typing import Any

from endpoints.destinations import DestinationInvalid, Option

from . import _aws
from .base import Answer, Message, render_template
from .templates import template_check


def _check(config: dict[str, Any]) -> str:
    name = config["stream_name"]
    if not (1 <= len(name) <= 128) or not all(c.isalnum() or c in "_.-" for c in name):
        raise DestinationInvalid("stream_name", "Give a stream name (letters, digits, _ . -).")
    template_check(config["partition_key"], "partition_key")
    _aws.common_check(config)
    return f"kinesis://{config['region']}/{name}"


def record_data(message: Message) -> bytes:
    return json.dumps(
        {"headers": message.attributes, "body": message.body.decode("utf-8")},
        separators=(",", ":"),
    ).encode()


class KinesisAdapter(_aws.BotoAdapter):
    batch_size = 500
    service = "kinesis"

    def send(self, client: Any, config: dict[str, Any], messages: list[Message]) -> list[Answer]:
        records = [
            {
                "Data": record_data(m),
                "PartitionKey": render_template(config["partition_key"], m)[:256] or "-",
            }
            for m in messages
        ]
        answer, refused = _aws.called(
            "kinesis",
            len(messages),
            lambda: client.put_records(StreamName=config["stream_name"], Records=records),
        )
        if refused is not None:
            return refused
        return _aws.record_answers(
            "kinesis",
            answer.get("Records", []),
            len(messages),
            missing="the record",
            accepted=lambda record: Answer(
                ok=True,
                message_id=str(record.get("SequenceNumber", "")),
                sequence_number=str(record.get("SequenceNumber", "")),
                details={"shard": str(record.get("ShardId", ""))},
            ),
        )


_aws.kind_register(
    name="kinesis",
    label="Amazon Kinesis Data Streams (a record per event)",
    options=(
        Option("stream_name", str, "The stream's name.", True),
        Option(
            "partition_key",
            str,
            "The partition key; may use {event_type}, {event_id}, {tenant}, {date}.",
            default="{tenant}",
        ),
        *_aws.common_options(),
    ),
    check=_check,
    adapter=KinesisAdapter(),
)
