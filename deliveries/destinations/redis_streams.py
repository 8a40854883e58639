"""Redis Streams: each delivery is an ``XADD`` to a stream (capped with ``MAXLEN``), its fields
the body and the webhook-* attributes; a batch is one pipeline. The answer is the entry id.

redis-py's asyncio client (already a dependency through ``celery[redis]``)."""

from __future__ import annotations

from typing import Any

from endpoints import destinations
from endpoints.destinations import DestinationInvalid, Kind, Option

from ._server import ServerAdapter
from .base import Answer, Message, render_template
from .templates import template_check


def _check(config: dict[str, Any]) -> str:
    scheme, host, port, user, path = RedisStreamsAdapter.parts(config)
    db = path.strip("/") or "0"
    if not db.isdigit():
        raise DestinationInvalid("url", "The URL's path is the database number (redis://host/0).")
    template_check(config["stream"], "stream")
    return f"{scheme}://{user + '@' if user else ''}{host}:{port}/{int(db)}"


class RedisStreamsAdapter(ServerAdapter):
    name = "redis"
    schemes = {"redis": 6379}

    async def open(self, config: dict[str, Any], host: str, port: int, user: str, path: str) -> Any:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        return aioredis.Redis(
            host=host,
            port=port,
            db=int(path.strip("/") or 0),
            username=user or None,
            password=config.get("password") or None,
            socket_timeout=10,
            socket_connect_timeout=10,
            # No retries inside the client: a failed try is the engine's to retry.
            retry=Retry(NoBackoff(), 0),
        )

    async def ready(self, client: Any, config: dict[str, Any]) -> Any:
        await client.ping()
        return client

    async def send(self, client: Any, config: dict[str, Any], messages: list[Message]) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for message in messages:
            fields = {"body": message.body, **message.attributes}
            pipe.xadd(
                render_template(config["stream"], message),
                fields,
                maxlen=config["maxlen"],
                approximate=config["approximate"],
            )
        return await pipe.execute(raise_on_error=False)

    def lost_errors(self) -> tuple[type[BaseException], ...]:
        import redis.exceptions

        return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

    def sent(self, message: Message, result: Any) -> Answer:
        entry = result.decode() if isinstance(result, bytes) else str(result)
        return Answer(ok=True, message_id=entry, sequence_number=entry)

    def code(self, exc: BaseException) -> str:
        first = str(exc).split(" ", 1)[0]
        return first if first.isupper() and first.isalpha() else super().code(exc)

    async def close(self, client: Any) -> None:
        await client.aclose()


destinations.kind_register(
    Kind(
        name="redis",
        label="Redis Streams (XADD to a stream)",
        options=(
            Option("url", str, "redis://[user@]host:port/db (no password: give it below).", True),
            Option("password", str, "The Redis password (stored encrypted).", secret=True),
            Option(
                "stream",
                str,
                "The stream's name; may use {event_type}, {event_id}, {tenant}, {date}.",
                True,
            ),
            Option("maxlen", int, "MAXLEN of each XADD.", default=100_000, minimum=1),
            Option("approximate", bool, "MAXLEN ~ (approximate trimming).", default=True),
        ),
        package="redis",
        module="redis",
        check=_check,
        address=RedisStreamsAdapter.address,
        adapter=RedisStreamsAdapter(),
    )
)
