"""What the kinds on a server of their own share (RabbitMQ, Redis Streams): a ``url`` option with
its own schemes, one client per endpoint connected to the checked address, a client that fails
to connect or loses its connection raised as ``ConnectionLost`` (the sender drops it and the next
batch connects again), and an answer per message from what the server returned for it.

A subclass says only what differs: how to open and ready a client, how to send a batch, which
errors mean the connection is gone, and how to read a result and an error's code."""

from __future__ import annotations

from typing import Any

from endpoints import destinations

from .base import Adapter, Answer, ConnectionLost, Message, Target


class ServerAdapter(Adapter):
    batch_size = 100
    name = ""  # the prefix of every error text ("rabbitmq: connection refused")
    schemes: dict[str, int] = {}  # the url's schemes and their default ports
    refused_marks: tuple[str, ...] = ("refused",)  # in an error's text: the server refused us

    @classmethod
    def parts(cls, config: dict[str, Any]) -> tuple[str, str, int, str, str]:
        """(scheme, host, port, user, path) of the ``url`` option."""
        return destinations.server_url(config["url"], schemes=cls.schemes)

    @classmethod
    def address(cls, config: dict[str, Any]) -> tuple[str, int]:
        _, host, port, _, _ = cls.parts(config)
        return host, port

    async def connect(self, target: Target, address: str | None) -> Any:
        _, host, port, user, path = self.parts(target.config)
        try:
            client = await self.open(target.config, address or host, port, user, path)
        except Exception as exc:
            raise self.lost(exc) from exc
        try:
            return await self.ready(client, target.config)
        except Exception as exc:
            await self.discard(client)
            raise self.lost(exc) from exc

    async def publish(self, client: Any, target: Target, messages: list[Message]) -> list[Answer]:
        try:
            results = await self.send(client, target.config, messages)
        except self.lost_errors() as exc:
            raise self.lost(exc) from exc
        return [
            self.refused(result) if isinstance(result, BaseException) else self.sent(m, result)
            for m, result in zip(messages, results, strict=True)
        ]

    # What a subclass gives.

    async def open(self, config: dict[str, Any], host: str, port: int, user: str, path: str) -> Any:
        """A client connected to ``host`` (the checked address); any error: ``ConnectionLost``."""
        raise NotImplementedError

    async def ready(self, client: Any, config: dict[str, Any]) -> Any:
        """The client ``publish`` is given, from the one just opened (an error discards it)."""
        return client

    async def discard(self, opened: Any) -> None:
        """Close a client ``open`` made that ``ready`` could not finish."""
        await self.close(opened)

    async def send(self, client: Any, config: dict[str, Any], messages: list[Message]) -> list[Any]:
        """One result per message, in order: what the server answered, or the exception."""
        raise NotImplementedError

    def lost_errors(self) -> tuple[type[BaseException], ...]:
        """What ``send`` raises when the connection is gone (``ConnectionLost`` always is)."""
        return ()

    def sent(self, message: Message, result: Any) -> Answer:
        """The answer for a message the server took."""
        raise NotImplementedError

    def code(self, exc: BaseException) -> str:
        return exc.__class__.__name__

    # Errors as answers.

    def refused(self, exc: BaseException) -> Answer:
        return Answer(ok=False, error=self.error_text(exc), code=self.code(exc))

    def lost(self, exc: BaseException) -> ConnectionLost:
        return ConnectionLost(self.error_text(exc), self.code(exc))

    def error_text(self, exc: BaseException) -> str:
        text = str(exc).lower()
        if isinstance(exc, ConnectionRefusedError) or any(m in text for m in self.refused_marks):
            return f"{self.name}: connection refused"
        return f"{self.name}: {str(exc)[:300] or exc.__class__.__name__}"
