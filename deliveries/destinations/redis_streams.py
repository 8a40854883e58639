"""Redis Streams: each delivery is an ``XADD`` to a stream (capped with ``MAXLEN``), its fields
the body and the webhook-* attributes; a batch is one pipeline. The answer is the entry id.

redis-py's asyncio client (already a dependency through ``celery[redis]``)."""

from __future__ import annotations

from typing import Any

from endpoints import destinations
from endpoints.destinations import DestinationInvalid, Kind, Option

from .base import Adapter, Answer, ConnectionLost, Message, Target, render_template
from .templates import template_check

SCHEMES = {"redis": 6379}


def _parts(config: dict[str, Any]) -> tuple[str, str, int, str, str]:
    return destinations.server_url(config["url"], schemes=SCHEMES)


def _check(config: dict[str, Any]) -> str:
    scheme, host, port, user, path = _parts(config)
    db = path.strip("/") or "0"
    if not db.isdigit():
        raise DestinationInvalid("url", "The URL's path is the database number (redis://host/0).")
    template_check(config["stream"], "stream")
    return f"{scheme}://{user + '@' if user else ''}{host}:{port}/{int(db)}"


def _address(config: dict[str, Any]) -> tuple[str, int]:
    _, host, port, _, _ = _parts(config)
    return host, port


class RedisStreamsAdapter(Adapter):
    batch_size = 100

    async def connect(self, target: Target, address: str | None) -> Any:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        config = target.config
        _, host, port, user, path = _parts(config)
        client = aioredis.Redis(
            host=address or host,
            port=port,
            db=int(path.strip("/") or 0),
            username=user or None,
            password=config.get("password") or None,
            socket_timeout=10,
            socket_connect_timeout=10,
            # No retries inside the client: a failed try is the engine's to retry.
            retry=Retry(NoBackoff(), 0),
        )
        try:
            await client.ping()
        except Exception as exc:
            await client.aclose()
            raise ConnectionLost(_error_text(exc), _code(exc)) from exc
        return client

    async def publish(self, client: Any, target: Target, messages: list[Message]) -> list[Answer]:
        import redis.exceptions

        config = target.config
        pipe = client.pipeline(transaction=False)
        for message in messages:
            fields = {"body": message.body, **message.attributes}
            pipe.xadd(
                render_template(config["stream"], message),
                fields,
                maxlen=config["maxlen"],
                approximate=config["approximate"],
            )
        try:
            results = await pipe.execute(raise_on_error=False)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            raise ConnectionLost(_error_text(exc), _code(exc)) from exc
        answers = []
        for result in results:
            if isinstance(result, Exception):
                answers.append(Answer(ok=False, error=_error_text(result), code=_code(result)))
            else:
                entry = result.decode() if isinstance(result, bytes) else str(result)
                answers.append(Answer(ok=True, message_id=entry, sequence_number=entry))
        return answers

    async def close(self, client: Any) -> None:
        await client.aclose()


def _code(exc: BaseException) -> str:
    first = str(exc).split(" ", 1)[0]
    return first if first.isupper() and first.isalpha() else exc.__class__.__name__


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError) or "refused" in str(exc).lower():
        return "redis: connection refused"
    return f"redis: {str(exc)[:300] or exc.__class__.__name__}"


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
        address=_address,
        adapter=RedisStreamsAdapter(),
    )
)
