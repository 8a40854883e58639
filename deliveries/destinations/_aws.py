"""What the AWS kinds share: their common options, the address rules for an ``endpoint_url``,
a boto3 client made in the sender's thread pool (boto3 is synchronous), one call's refusal, the
SQS/SNS batch entries and answers, and the per-record answers of Kinesis and EventBridge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from endpoints import destinations
from endpoints.destinations import DestinationInvalid, Kind, Option

from .base import Adapter, Answer, ConnectionLost, Message, Target, render_template
from .sender import sender


def common_options() -> tuple[Option, ...]:
    return (
        Option("region", str, "The AWS region, e.g. eu-west-1.", True),
        Option(
            "endpoint_url",
            str,
            "Another endpoint of the service (a VPC endpoint); checked like a webhook URL.",
            default="",
        ),
        Option("access_key_id", str, "Static credentials; none: the environment's chain."),
        Option("secret_access_key", str, "Its secret (stored encrypted).", secret=True),
    )


class BotoAdapter(Adapter):
    """An AWS kind: a boto3 client of ``service`` per endpoint and configuration, and every call
    (``send``, blocking) run in the sender's bounded thread pool, off its event loop."""

    service = ""

    async def connect(self, target: Target, address: str | None) -> Any:
        return await sender().run_blocking(client, self.service, target.config, address)

    async def publish(self, client: Any, target: Target, messages: list[Message]) -> list[Answer]:
        return await sender().run_blocking(self.send, client, target.config, messages)

    def send(self, client: Any, config: dict[str, Any], messages: list[Message]) -> list[Answer]:
        """One answer per message, in order (blocking: runs in the pool)."""
        raise NotImplementedError


class MessageBatchAdapter(BotoAdapter):
    """SQS and SNS: a batch is one ``…Batch`` call of up to ten entries (``batch_sent``); a kind
    gives its body field, whether a configuration is FIFO, and the call."""

    batch_size = 10
    body_field = ""

    def fifo(self, config: dict[str, Any]) -> bool:
        raise NotImplementedError

    def call(self, client: Any, config: dict[str, Any], entries: list[dict[str, Any]]) -> Any:
        raise NotImplementedError

    def send(self, client: Any, config: dict[str, Any], messages: list[Message]) -> list[Answer]:
        return batch_sent(
            self.service,
            config,
            messages,
            body_field=self.body_field,
            fifo=self.fifo(config),
            send=lambda entries: self.call(client, config, entries),
        )


def kind_register(
    *,
    name: str,
    label: str,
    options: tuple[Option, ...],
    check: Callable[[dict[str, Any]], str],
    adapter: BotoAdapter,
) -> None:
    """Register an AWS kind: boto3, and the address of its ``endpoint_url`` (``address``)."""
    destinations.kind_register(
        Kind(
            name=name,
            label=label,
            options=options,
            package="boto3",
            module="boto3",
            check=check,
            address=address,
            adapter=adapter,
        )
    )


def group_option(holder: str) -> Option:
    """A FIFO queue's or topic's ``message_group_id`` template (``holder``: "queue", "topic")."""
    return Option(
        "message_group_id",
        str,
        f"A FIFO {holder}'s group id; may use {{event_type}}, {{event_id}}, {{tenant}}, {{date}}.",
        default="{tenant}",
    )


def endpoint_parts(config: dict[str, Any]) -> tuple[str, str, int] | None:
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


def common_check(config: dict[str, Any]) -> None:
    if bool(config.get("access_key_id")) != bool(config.get("secret_access_key")):
        field = "secret_access_key" if config.get("access_key_id") else "access_key_id"
        raise DestinationInvalid(
            field,
            "Give both access_key_id and secret_access_key, or neither (the environment's "
            "credentials).",
        )
    endpoint_parts(config)


def address(config: dict[str, Any]) -> tuple[str, int] | None:
    parts = endpoint_parts(config)
    return None if parts is None else (parts[1], parts[2])


def client(service: str, config: dict[str, Any], checked: str | None) -> Any:
    """A boto3 client of ``service`` (blocking: call it in the sender's pool)."""
    import boto3
    from botocore.config import Config

    endpoint_url = config.get("endpoint_url") or None
    parts = endpoint_parts(config)
    if endpoint_url and parts is not None and checked and parts[0] == "http":
        # Plain HTTP: connect to the address that was checked (no second lookup).
        split = urlsplit(endpoint_url)
        endpoint_url = urlunsplit(split._replace(netloc=f"{checked}:{parts[2]}"))
    session = boto3.session.Session(
        aws_access_key_id=config.get("access_key_id") or None,
        aws_secret_access_key=config.get("secret_access_key") or None,
        region_name=config["region"],
    )
    return session.client(
        service,
        endpoint_url=endpoint_url,
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"},  # the engine retries
            connect_timeout=5,
            read_timeout=10,
            max_pool_connections=10,
        ),
    )


def client_error(service: str, exc: Any) -> tuple[str, str]:
    """(error text, code) of a botocore ``ClientError``."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "ClientError"))
    return f"{service}: {code}: {str(error.get('Message', ''))[:300]}", code


def string_attributes(attributes: dict[str, str], limit: int = 10) -> dict[str, Any]:
    """Message attributes as SQS and SNS take them (ten at most)."""
    return {
        name: {"DataType": "String", "StringValue": value}
        for name, value in list(attributes.items())[:limit]
    }


def called(
    service: str, count: int, send: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], list[Answer] | None]:
    """One AWS call for a batch of ``count``: (its answer, None), or ({}, one refusal per
    message) when AWS refused the call; a lost connection raises ``ConnectionLost`` (the sender
    drops the client and the next try reconnects)."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    try:
        return send(), None
    except EndpointConnectionError as exc:
        raise ConnectionLost(f"{service}: cannot connect to the endpoint") from exc
    except ClientError as exc:
        text, code = client_error(service, exc)
        return {}, [Answer(ok=False, error=text, code=code) for _ in range(count)]
    except BotoCoreError as exc:
        raise ConnectionLost(f"{service}: {exc.__class__.__name__}") from exc


def batch_sent(
    service: str,
    config: dict[str, Any],
    messages: list[Message],
    *,
    body_field: str,
    fifo: bool,
    send: Callable[[list[dict[str, Any]]], dict[str, Any]],
) -> list[Answer]:
    """One SQS ``SendMessageBatch`` or SNS ``PublishBatch``: an entry per message (the body in
    ``body_field``, the attributes as string attributes; a FIFO queue or topic's group id from the
    ``message_group_id`` template and the event id as its deduplication id), ``send(entries)``
    called once, and an answer per message."""
    entries = []
    for i, message in enumerate(messages):
        entry: dict[str, Any] = {
            "Id": str(i),
            body_field: message.body.decode("utf-8"),
            "MessageAttributes": string_attributes(message.attributes),
        }
        if fifo:
            entry["MessageGroupId"] = render_template(config["message_group_id"], message)
            entry["MessageDeduplicationId"] = message.event_id
        entries.append(entry)
    answer, refused = called(service, len(messages), lambda: send(entries))
    if refused is not None:
        return refused
    return batch_answers(service, answer, len(messages))


def batch_answers(service: str, answer: dict[str, Any], count: int) -> list[Answer]:
    """One answer per entry of a ``…Batch`` call's ``Successful`` and ``Failed`` lists."""
    answers = [Answer(ok=False, error=f"{service}: no answer for the message")] * count
    for ok in answer.get("Successful", []):
        answers[int(ok["Id"])] = Answer(
            ok=True,
            message_id=ok.get("MessageId", ""),
            sequence_number=ok.get("SequenceNumber", ""),
        )
    for failed in answer.get("Failed", []):
        code = str(failed.get("Code", ""))
        answers[int(failed["Id"])] = Answer(
            ok=False, error=f"{service}: {code}: {str(failed.get('Message', ''))[:300]}", code=code
        )
    return answers


def record_answers(
    service: str,
    records: list[dict[str, Any]],
    count: int,
    *,
    missing: str,
    accepted: Callable[[dict[str, Any]], Answer],
) -> list[Answer]:
    """One answer per record of a Kinesis ``PutRecords`` or EventBridge ``PutEvents`` answer (in
    the order sent): a record with an ``ErrorCode`` is refused, any other ``accepted(record)``; an
    answer that does not count ``count`` records refuses them all (``missing``: "the record")."""
    answers = []
    for record in records:
        if record.get("ErrorCode"):
            code = str(record["ErrorCode"])
            text = f"{service}: {code}: {str(record.get('ErrorMessage', ''))[:300]}"
            answers.append(Answer(ok=False, error=text, code=code))
        else:
            answers.append(accepted(record))
    if len(answers) != count:
        return [Answer(ok=False, error=f"{service}: no answer for {missing}")] * count
    return answers
