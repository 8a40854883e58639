"""The errors publishing raises (re-exported by ``deliveries`` for product code)."""

from __future__ import annotations

from webhooks_platform.errors import InputError, InputTooLarge


class PublishError(InputError):
    """An event that cannot be published; the message names the problem."""


class PayloadTooLarge(PublishError, InputTooLarge):
    """The encoded event body is over ``WEBHOOKS_MAX_PAYLOAD_BYTES``."""
