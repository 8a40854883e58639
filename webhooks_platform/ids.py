"""Public identifiers: a prefix and 27 characters, a ULID (time-ordered, 26 Crockford base32
characters) plus one more random character, so they have the length of Svix's ids (``app_``,
``ep_``, ``msg_`` + 27) that clients of the Svix-compatible API may store in fixed-size columns.

Time order keeps B-tree inserts at the right edge and lets ids double as a sort key; the 85 random
bits make them unguessable, so an id in a URL reveals nothing about other tenants' objects.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid() -> str:
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    return f"{prefix}_{ulid()}{_ALPHABET[os.urandom(1)[0] & 31]}"


def new_app_id() -> str:
    return new_id("app")


def new_endpoint_id() -> str:
    return new_id("ep")


def new_portal_link_id() -> str:
    return new_id("pl")


def new_event_id() -> str:
    return new_id("msg")
