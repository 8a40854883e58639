"""Amazon S3: one object per event, at a key from a template (``{date}`` is the event's
publishing day, ``{event_id}`` makes it unique), its content the webhook's body and its
metadata the signature headers (``x-amz-meta-webhook-id``, ...). A retry writes the same key
again, so an object is never duplicated. The answer is the key, with the ETag and version id.
boto3, in the sender's thread pool."""

from __future__ import annotations

import asyncio
from typing import Any

from endpoints.destinations import DestinationInvalid, Option

from . import _aws
from .base import Answer, ConnectionLost, Message, Target, render_template
from .sender import sender
from .templates import template_check


def _check(config: dict[str, Any]) -> str:
    bucket = config["bucket"]
    if not (3 <= len(bucket) <= 63) or not all(c.isalnum() or c in ".-" for c in bucket):
        raise DestinationInvalid("bucket", "Give a bucket name (3-63 letters, digits, . and -).")
    key = template_check(config["key"], "key")
    if "{event_id}" not in key:
        raise DestinationInvalid("key", "The key must contain {event_id}: one object per event.")
    _aws.common_check(config)
    return f"s3://{bucket}/{key}"


class S3Adapter(_aws.BotoAdapter):
    batch_size = 10  # objects written at once per endpoint (one request each)
    service = "s3"

    async def publish(self, client: Any, target: Target, messages: list[Message]) -> list[Answer]:
        return list(
            await asyncio.gather(
                *(sender().run_blocking(_put, client, target.config, m) for m in messages)
            )
        )


def _put(client: Any, config: dict[str, Any], message: Message) -> Answer:
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    key = render_template(config["key"], message)
    try:
        answer = client.put_object(
            Bucket=config["bucket"],
            Key=key,
            Body=message.body,
            ContentType="application/json",
            Metadata=dict(message.attributes),
        )
    except EndpointConnectionError:
        return Answer(ok=False, error="s3: cannot connect to the endpoint", code="CONNECTION")
    except ClientError as exc:
        text, code = _aws.client_error("s3", exc)
        return Answer(ok=False, error=text, code=code)
    except BotoCoreError as exc:
        raise ConnectionLost(f"s3: {exc.__class__.__name__}") from exc
    return Answer(
        ok=True,
        message_id=key,
        sequence_number=str(answer.get("VersionId") or ""),
        details={"etag": str(answer.get("ETag", "")).strip('"')},
    )


_aws.kind_register(
    name="s3",
    label="Amazon S3 (one object per event)",
    options=(
        Option("bucket", str, "The bucket's name.", True),
        Option(
            "key",
            str,
            "The object key; must use {event_id}, may use {event_type}, {tenant}, {date} "
            "(the event's day, YYYY-MM-DD).",
            default="webhooks/{date}/{event_id}.json",
        ),
        *_aws.common_options(),
    ),
    check=_check,
    adapter=S3Adapter(),
)
