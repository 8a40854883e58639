"""Checking a destination's name templates (routing keys, stream names, object keys) at save."""

from __future__ import annotations

import string

from endpoints.destinations import DestinationInvalid

from .base import TEMPLATE_NAMES


def template_check(value: str, field_name: str, *, required: bool = True) -> str:
    """``value`` if every ``{name}`` in it is one the sender fills in."""
    if required and not value.strip():
        raise DestinationInvalid(field_name, "This option is required.")
    try:
        names = [
            name for _, name, spec, conv in string.Formatter().parse(value) if name is not None
        ]
        specs = [spec or conv for _, name, spec, conv in string.Formatter().parse(value) if name]
    except ValueError as exc:
        raise DestinationInvalid(field_name, f"The template is malformed: {exc}") from exc
    unknown = sorted({n for n in names if n not in TEMPLATE_NAMES})
    if unknown or any(specs):
        raise DestinationInvalid(
            field_name,
            f"The template may use only {', '.join('{' + n + '}' for n in TEMPLATE_NAMES)} "
            f"(found {', '.join('{' + n + '}' for n in unknown) or 'a format spec'}).",
        )
    return value
