"""Public identifiers: a prefix and 27 characters, a ULID (time-ordered, 26 Crockford base32
characters) plus one more random character, so they have the length of Svix's ids (``app_``,
``ep_``, ``msg_`` + 27) that clients of the Svix-compatible API may store in fixed-size columns.

Time order keeps B-tree inserts at the right edge and lets ids double as a sort key; the 85 random
bits make them unguessable, so an id in a URL reveals nothing about other tenants' objects.

Within a process ids only grow, even within one millisecond or when the clock steps back: the
next id of the same millisecond adds a random step of up to 2**40 to the last one's random
part. So the order of a process's event ids is the order it published them in, which ordered
endpoints deliver by.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, random part) of the last id made here


def _next_value() -> int:
    global _last
    now = int(time.time() * 1000)
    with _lock:
        last_ms, last_random = _last
        if now > last_ms:
            ms, random_part = now, int.from_bytes(os.urandom(10), "big")
        else:
            ms = last_ms
            random_part = last_random + 1 + int.from_bytes(os.urandom(5), "big")
            if random_part >> _RANDOM_BITS:  # 2**40 ids in one millisecond: borrow the next
                ms, random_part = last_ms + 1, int.from_bytes(os.urandom(10), "big") >> 1
        _last = (ms, random_part)
    return (ms << _RANDOM_BITS) | random_part


def ulid() -> str:
    value = _next_value()
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
