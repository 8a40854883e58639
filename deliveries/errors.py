"""The errors publishing raises (re-exported by ``deliveries`` for product code)."""

from __future__ import annotations

from platform_core.errors import InputRejected, InputTooLarge


class PublishError(InputRejected):
    """An event that cannot be published; the message names the problem."""


class PayloadTooLarge(PublishError, InputTooLarge):
    """The encoded event body is over ``WEBHOOKS_MAX_PAYLOAD_BYTES``."""
