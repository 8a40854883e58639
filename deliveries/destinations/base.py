"""What every destination adapter implements, and what it is given: I/O only, no Django models.

A kind is one module beside this one that defines an ``Adapter`` subclass and registers its
``endpoints.destinations.Kind`` (options, checks) with the adapter in it. The sender
(``deliveries.destinations.sender``) checks the address, keeps one client per endpoint and
configuration, and calls ``publish`` with up to ``batch_size`` messages at a time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from endpoints import url_safety


@dataclass(frozen=True)
class Message:
    """One delivery as a destination message: the webhook's body and its signature headers
    (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) as attributes."""

    key: Any  # the delivery id (the engine's handle for the result)
    event_id: str
    event_type: str
    tenant: str
    body: bytes
    attributes: dict[str, str]
    timestamp: int
    created: int = 0  # when the event was published (unix seconds; 0: unknown, use timestamp)


@dataclass(frozen=True)
class Target:
    """Where a batch goes: one endpoint's kind and opened configuration."""

    endpoint: str
    kind: str
    config: dict[str, Any]
    ordered: bool = False
    allowed_subnets: tuple[url_safety.Network, ...] | None = None

    @property
    def fingerprint(self) -> str:
        """Changes whenever the configuration does: a client is kept per fingerprint."""
        text = json.dumps(self.config, sort_keys=True, default=str)
        return hashlib.sha256(f"{self.endpoint}\x00{text}".encode()).hexdigest()


@dataclass
class Answer:
    """What the destination answered for one message."""

    ok: bool
    message_id: str = ""
    sequence_number: str = ""
    error: str = ""  # "" when ok
    code: str = ""  # the service's error code (NOT_FOUND, WRONGTYPE, ...)
    details: dict[str, Any] = field(default_factory=dict)


class ConnectionLost(Exception):  # noqa: N818  (a state, not a mistake)
    """The client can no longer be used (broker restarted, socket closed): the sender drops it
    and the next batch connects again."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class Adapter:
    """One destination kind's I/O. Subclasses set ``batch_size`` and implement the three
    coroutines; a blocking library runs in ``sender.run_blocking`` (a bounded thread pool)."""

    batch_size = 1

    async def connect(self, target: Target, address: str | None) -> Any:
        """A client for ``target``, connected to the checked ``address`` (None: the service's
        own endpoint, no address to check)."""
        raise NotImplementedError

    async def publish(self, client: Any, target: Target, messages: list[Message]) -> list[Answer]:
        """One answer per message, in order. Raise ``ConnectionLost`` when the client is
        unusable; any other exception fails the batch without dropping the client."""
        raise NotImplementedError

    async def close(self, client: Any) -> None:
        return None

    def usable(self, client: Any) -> bool:
        """False when the kept client can no longer send (the sender connects again)."""
        return True


def render_template(template: str, message: Message) -> str:
    """A routing key, stream or object key template filled in for ``message``."""
    return template.format_map(template_values(message))


def template_values(message: Message) -> dict[str, str]:
    published = datetime.fromtimestamp(message.created or message.timestamp, tz=UTC)
    return {
        "event_type": message.event_type,
        "event_id": message.event_id,
        "tenant": message.tenant,
        "date": published.strftime("%Y-%m-%d"),  # the event's publishing day, UTC
    }


TEMPLATE_NAMES = ("event_type", "event_id", "tenant", "date")
