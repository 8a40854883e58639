"""RabbitMQ (AMQP 0-9-1): each delivery is a persistent message published to an exchange with a
routing key from a template, the webhook-* attributes as headers, on a channel with publisher
confirms (a batch is published at once and its confirms awaited together). A message the broker
cannot route is a failed try (``mandatory``), as is a nack.

aio-pika: maintained, asyncio-native (no thread per connection), publisher confirms built in.
Its robust connection is not used: a client that loses its connection (a broker restart) is
dropped by the sender and the next try connects again, so the retry policy decides when."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from endpoints import destinations
from endpoints.destinations import Kind, Option

from .base import Adapter, Answer, ConnectionLost, Message, Target, render_template
from .templates import template_check

SCHEMES = {"amqp": 5672}


def _parts(config: dict[str, Any]) -> tuple[str, str, int, str, str]:
    return destinations.server_url(config["url"], schemes=SCHEMES)


def _vhost(path: str) -> str:
    return unquote(path[1:]) if len(path) > 1 else "/"


def _check(config: dict[str, Any]) -> str:
    scheme, host, port, user, path = _parts(config)
    template_check(config["routing_key"], "routing_key", required=False)
    exchange = config.get("exchange", "")
    return f"{scheme}://{user + '@' if user else ''}{host}:{port}{path or '/'}#{exchange}"


def _address(config: dict[str, Any]) -> tuple[str, int]:
    _, host, port, _, _ = _parts(config)
    return host, port


class RabbitMQAdapter(Adapter):
    batch_size = 100

    async def connect(self, target: Target, address: str | None) -> Any:
        import aio_pika

        config = target.config
        _, host, port, user, path = _parts(config)
        try:
            connection = await aio_pika.connect(
                host=address or host,
                port=port,
                login=user or "guest",
                password=config.get("password") or "",
                virtualhost=_vhost(path),
                timeout=10,
            )
        except Exception as exc:
            raise ConnectionLost(_error_text(exc), _code(exc)) from exc
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            name = config.get("exchange", "")
            exchange = (
                await channel.get_exchange(name, ensure=True) if name else channel.default_exchange
            )
        except Exception as exc:
            await connection.close()
            raise ConnectionLost(_error_text(exc), _code(exc)) from exc
        return (connection, channel, exchange)

    async def publish(self, client: Any, target: Target, messages: list[Message]) -> list[Answer]:
        import asyncio

        import aio_pika
        from aio_pika import exceptions

        connection, channel, exchange = client
        if connection.is_closed or channel.is_closed:
            raise ConnectionLost("rabbitmq: connection closed", "CONNECTION_CLOSED")
        config = target.config
        mode = (
            aio_pika.DeliveryMode.PERSISTENT
            if config.get("persistent", True)
            else aio_pika.DeliveryMode.NOT_PERSISTENT
        )
        sends = [
            exchange.publish(
                aio_pika.Message(
                    m.body,
                    headers=dict(m.attributes),
                    message_id=m.event_id,
                    content_type="application/json",
                    delivery_mode=mode,
                    type=m.event_type,
                ),
                routing_key=render_template(config["routing_key"], m),
                mandatory=config.get("mandatory", True),
            )
            for m in messages
        ]
        results = await asyncio.gather(*sends, return_exceptions=True)
        answers: list[Answer] = []
        for message, result in zip(messages, results, strict=True):
            if isinstance(result, exceptions.PublishError):
                answers.append(
                    Answer(ok=False, error="rabbitmq: message returned unroutable", code="NO_ROUTE")
                )
            elif isinstance(result, exceptions.DeliveryError):
                answers.append(
                    Answer(ok=False, error="rabbitmq: nacked by the broker", code="NACK")
                )
            elif isinstance(result, BaseException):
                answers.append(Answer(ok=False, error=_error_text(result), code=_code(result)))
            else:
                tag = getattr(result, "delivery_tag", None)
                answers.append(
                    Answer(
                        ok=True,
                        message_id=message.event_id,
                        sequence_number="" if tag is None else str(tag),
                    )
                )
        return answers

    def usable(self, client: Any) -> bool:
        # A channel the broker closed (an exchange deleted) or a lost connection: connect again.
        connection, channel, _ = client
        return not (connection.is_closed or channel.is_closed)

    async def close(self, client: Any) -> None:
        await client[0].close()


def _code(exc: BaseException) -> str:
    text = str(exc)
    for code in ("NOT_FOUND", "ACCESS_REFUSED", "PRECONDITION_FAILED", "NOT_ALLOWED"):
        if code in text:
            return code
    return exc.__class__.__name__


def _error_text(exc: BaseException) -> str:
    text = str(exc).lower()
    if (
        isinstance(exc, ConnectionRefusedError)
        or "refused" in text
        or "connect call failed" in text
    ):
        return "rabbitmq: connection refused"
    text = str(exc)[:300] or exc.__class__.__name__
    return f"rabbitmq: {text}"


destinations.kind_register(
    Kind(
        name="rabbitmq",
        label="RabbitMQ (publish to an exchange)",
        options=(
            Option("url", str, "amqp://[user@]host:port/vhost (no password: give it below).", True),
            Option("password", str, "The user's password (stored encrypted).", secret=True),
            Option(
                "exchange",
                str,
                "An existing exchange; empty: the default exchange (the routing key names the "
                "queue).",
                default="",
            ),
            Option(
                "routing_key",
                str,
                "The routing key; may use {event_type}, {event_id}, {tenant}, {date}.",
                default="{event_type}",
            ),
            Option("persistent", bool, "Persistent messages (delivery mode 2).", default=True),
            Option("mandatory", bool, "A message no queue takes is a failed try.", default=True),
        ),
        package="aio-pika",
        module="aio_pika",
        check=_check,
        address=_address,
        adapter=RabbitMQAdapter(),
    )
)
