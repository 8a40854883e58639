"""The errors publishing raises (re-exported by ``deliveries`` for product code)."""

from __future__ import annotations

from platform_core.errors import Gone, InputRejected, InputTooLarge


class PublishError(InputRejected):
    """An event that cannot be published; the message names the problem."""


class PayloadTooLarge(PublishError, InputTooLarge):
    """The encoded event body is over ``WEBHOOKS_MAX_PAYLOAD_BYTES``."""


class TenantGone(Gone):
    """The tenant was deleted between its lookup and the event's INSERT (an app delete racing
    the publish): nothing was stored. The APIs answer 404."""
