"""Errors that are the caller's mistake, as every API surface answers them.

Domain errors subclass these (``deliveries.errors.PublishError`` is an ``InputError``), so the
API's exception handlers map them to 400 and 413 without importing the apps that raise them.
"""

from __future__ import annotations


class InputError(ValueError):
    """Input that cannot be accepted; the message names the problem (400)."""


class InputTooLarge(InputError):
    """Input over a size limit (413)."""
