"""Errors every app may raise for a caller's mistake, so that the API adapters can answer them
without importing the app that raised them (``deliveries.PublishError`` is one)."""

from __future__ import annotations


class InputRejected(ValueError):
    """Input a service refuses; the message says what is wrong. The native API answers 400
    ``validation_error``, the Svix-compatible one 422."""


class InputTooLarge(InputRejected):
    """Input over a size limit: 413 ``payload_too_large``."""


class Gone(LookupError):
    """What the request named was deleted while the request ran (a tenant deleted during a
    publish, say): both APIs answer 404, as if the request had come a moment later."""
