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
from urllib.parse import urlsplit, urlunsplit

from endpoints import destinations
from endpoints.destinations import DestinationInvalid, Kind, Option

from .base import Adapter, Answer, ConnectionLost, Message, Target, render_template
from .sender import sender
from .templates import template_check

MAX_ATTRIBUTES = 10  # SQS takes at most ten message attributes


def _endpoint_parts(config: dict[str, Any]) -> tuple[str, str, int] | None:
    url = config.get("endpoint_url") or ""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationInvalid("endpoint_url", f"The URL is malformed: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationInvalid("endpoint_url", "Give an http(s) URL with a host.")
    if parts.username or parts.password:
        raise DestinationInvalid("endpoint_url", "The URL may not contain credentials.")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


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
    if bool(config.get("access_key_id")) != bool(config.get("secret_access_key")):
        field = "secret_access_key" if config.get("access_key_id") else "access_key_id"
        raise DestinationInvalid(
            field,
            "Give both access_key_id and secret_access_key, or neither (the environment's "
            "credentials).",
        )
    _endpoint_parts(config)
    if _fifo(config):
        template_check(config["message_group_id"], "message_group_id")
    return queue_url


def _fifo(config: dict[str, Any]) -> bool:
    return config["queue_url"].rstrip("/").endswith(".fifo")


def _address(config: dict[str, Any]) -> tuple[str, int] | None:
    parts = _endpoint_parts(config)
    return None if parts is None else (parts[1], parts[2])


class SQSAdapter(Adapter):
    batch_size = 10

    async def connect(self, target: Target, address: str | None) -> Any:
        return await sender().run_blocking(_client, target.config, address)

    async def publish(self, client: Any, target: Target, messages: list[Message]) -> list[Answer]:
        return await sender().run_blocking(_send_batch, client, target.config, messages)


def _client(config: dict[str, Any], address: str | None) -> Any:
    import boto3
    from botocore.config import Config

    endpoint_url = config.get("endpoint_url") or None
    parts = _endpoint_parts(config)
    if endpoint_url and parts is not None and address and parts[0] == "http":
        # Plain HTTP: connect to the address that was checked (no second lookup).
        split = urlsplit(endpoint_url)
        endpoint_url = urlunsplit(split._replace(netloc=f"{address}:{parts[2]}"))
    session = boto3.session.Session(
        aws_access_key_id=config.get("access_key_id") or None,
        aws_secret_access_key=config.get("secret_access_key") or None,
        region_name=config["region"],
    )
    return session.client(
        "sqs",
        endpoint_url=endpoint_url,
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"},  # the engine retries
            connect_timeout=5,
            read_timeout=10,
            max_pool_connections=10,
        ),
    )


def _send_batch(client: Any, config: dict[str, Any], messages: list[Message]) -> list[Answer]:
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    fifo = _fifo(config)
    entries = []
    for i, message in enumerate(messages):
        attributes = dict(list(message.attributes.items())[:MAX_ATTRIBUTES])
        entry: dict[str, Any] = {
            "Id": str(i),
            "MessageBody": message.body.decode("utf-8"),
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
            },
        }
        if fifo:
            entry["MessageGroupId"] = render_template(config["message_group_id"], message)
            entry["MessageDeduplicationId"] = message.event_id
        entries.append(entry)
    try:
        answer = client.send_message_batch(QueueUrl=config["queue_url"], Entries=entries)
    except EndpointConnectionError as exc:
        raise ConnectionLost(f"sqs: cannot connect: {exc.kwargs.get('endpoint_url', '')}") from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "ClientError"))
        text = f"sqs: {code}: {str(error.get('Message', ''))[:300]}"
        return [Answer(ok=False, error=text, code=code) for _ in messages]
    except BotoCoreError as exc:
        raise ConnectionLost(f"sqs: {exc.__class__.__name__}") from exc
    answers: list[Answer] = [Answer(ok=False, error="sqs: no answer for the message")] * len(
        messages
    )
    for ok in answer.get("Successful", []):
        answers[int(ok["Id"])] = Answer(
            ok=True,
            message_id=ok.get("MessageId", ""),
            sequence_number=ok.get("SequenceNumber", ""),
        )
    for failed in answer.get("Failed", []):
        code = str(failed.get("Code", ""))
        answers[int(failed["Id"])] = Answer(
            ok=False, error=f"sqs: {code}: {str(failed.get('Message', ''))[:300]}", code=code
        )
    return answers


destinations.kind_register(
    Kind(
        name="sqs",
        label="Amazon SQS (standard or FIFO queue)",
        options=(
            Option("queue_url", str, "The queue's URL (a FIFO queue's name ends in .fifo).", True),
            Option("region", str, "The queue's AWS region, e.g. eu-west-1.", True),
            Option(
                "endpoint_url",
                str,
                "Another SQS endpoint (a VPC endpoint); checked like a webhook URL.",
                default="",
            ),
            Option("access_key_id", str, "Static credentials; none: the environment's chain."),
            Option("secret_access_key", str, "Its secret (stored encrypted).", secret=True),
            Option(
                "message_group_id",
                str,
                "A FIFO queue's MessageGroupId; may use {event_type}, {event_id}, {tenant}.",
                default="{tenant}",
            ),
        ),
        package="boto3",
        module="boto3",
        check=_check,
        address=_address,
        adapter=SQSAdapter(),
    )
)
