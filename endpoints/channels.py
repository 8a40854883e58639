"""Channel names: an endpoint subscribes to channels, an event is published to some.

Endpoints own the rule so that both sides use one check: ``endpoints.services`` turns the error
into a ``ValidationError`` on the endpoint's ``channels`` field, publishing into a
``PublishError``; the message is the same either way.
"""

from __future__ import annotations

import re
from typing import Any

MAX_CHANNELS = 10
CHANNEL_RE = re.compile(r"[a-zA-Z0-9_.\-]{1,128}")


class InvalidChannels(ValueError):
    """A channel list that is not a list of up to ``MAX_CHANNELS`` channel names."""


def channels_validate(channels: Any, *, what: str = "channels") -> list[str]:
    """A list of up to ``MAX_CHANNELS`` channel names such as ``project_123`` or ``eu.orders``,
    without repeats, in the order given."""
    if channels is None:
        return []
    if not isinstance(channels, list | tuple) or not all(isinstance(c, str) for c in channels):
        raise InvalidChannels(f"{what} must be a list of strings")
    if len(channels) > MAX_CHANNELS:
        raise InvalidChannels(
            f"{what} holds at most {MAX_CHANNELS} names; this has {len(channels)}"
        )
    for name in channels:
        if not CHANNEL_RE.fullmatch(name):
            raise InvalidChannels(
                f"{what}: {name[:140]!r} is not a channel name (1 to 128 letters, digits, "
                "'-', '_' or '.')"
            )
    return list(dict.fromkeys(channels))
