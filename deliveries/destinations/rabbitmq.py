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

from ._server import ServerAdapter
from .base import Answer, ConnectionLost, Message, render_template
from .templates import template_check


def _vhost(path: str) -> str:
    return unquote(path[1:]) if len(path) > 1 else "/"


def _check(config: dict[str, Any]) -> str:
    scheme, host, port, user, path = RabbitMQAdapter.parts(config)
    template_check(config["routing_key"], "routing_key", required=False)
    exchange = config.get("exchange", "")
    return f"{scheme}://{user + '@' if user else ''}{host}:{port}{path or '/'}#{exchange}"


class RabbitMQAdapter(ServerAdapter):
    name = "rabbitmq"
    schemes = {"amqp": 5672}
    refused_marks = ("refused", "connect call failed")

    async def open(self, config: dict[str, Any], host: str, port: int, user: str, path: str) -> Any:
        import aio_pika

        return await aio_pika.connect(
            host=host,
            port=port,
            login=user or "guest",
            password=config.get("password") or "",
            virtualhost=_vhost(path),
            timeout=10,
        )

    async def ready(self, client: Any, config: dict[str, Any]) -> Any:
        channel = await client.channel(publisher_confirms=True, on_return_raises=True)
        name = config.get("exchange", "")
        exchange = (
            await channel.get_exchange(name, ensure=True) if name else channel.default_exchange
        )
        return (client, channel, exchange)

    async def discard(self, opened: Any) -> None:
        await opened.close()

    async def send(self, client: Any, config: dict[str, Any], messages: list[Message]) -> list[Any]:
        import asyncio

        import aio_pika

        connection, channel, exchange = client
        if connection.is_closed or channel.is_closed:
            raise ConnectionLost("rabbitmq: connection closed", "CONNECTION_CLOSED")
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
        return await asyncio.gather(*sends, return_exceptions=True)

    def sent(self, message: Message, result: Any) -> Answer:
        tag = getattr(result, "delivery_tag", None)
        return Answer(
            ok=True, message_id=message.event_id, sequence_number="" if tag is None else str(tag)
        )

    def refused(self, exc: BaseException) -> Answer:
        from aio_pika import exceptions

        if isinstance(exc, exceptions.PublishError):
            return Answer(ok=False, error="rabbitmq: message returned unroutable", code="NO_ROUTE")
        if isinstance(exc, exceptions.DeliveryError):
            return Answer(ok=False, error="rabbitmq: nacked by the broker", code="NACK")
        return super().refused(exc)

    def code(self, exc: BaseException) -> str:
        text = str(exc)
        for code in ("NOT_FOUND", "ACCESS_REFUSED", "PRECONDITION_FAILED", "NOT_ALLOWED"):
            if code in text:
                return code
        return super().code(exc)

    def usable(self, client: Any) -> bool:
        # A channel the broker closed (an exchange deleted) or a lost connection: connect again.
        connection, channel, _ = client
        return not (connection.is_closed or channel.is_closed)

    async def close(self, client: Any) -> None:
        await client[0].close()


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
        address=RabbitMQAdapter.address,
        adapter=RabbitMQAdapter(),
    )
)
