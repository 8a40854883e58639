"""The rules of a destination endpoint's kind and options (``endpoints.destinations``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from platform_core.conf import webhooks_settings

from .. import destinations

DESTINATION_TWILIO_REFUSED = (
    "The twilio style signs over a request URL, and a destination has none: choose another style."
)


def destination_validate(
    *,
    kind: str,
    config: Any,
    stored: Mapping[str, Any] | None = None,
    operations: bool = False,
) -> tuple[dict[str, Any], str]:
    """A destination's options to store (secret ones sealed) and the URL it shows; a
    ``ValidationError`` names the option at fault (``destination.<option>``)."""
    ws = webhooks_settings()
    try:
        return destinations.destination_validate(
            kind, config, stored=stored, allowed=ws.subnets_for(operations=operations)
        )
    except destinations.DestinationInvalid as exc:
        key = "kind" if exc.field == "kind" else f"destination.{exc.field}"
        raise ValidationError({key: exc.message}) from exc


def kind_validate(kind: str) -> str:
    names = [name for name, _ in destinations.kind_choices()]
    if kind not in names:
        raise ValidationError({"kind": f"Give one of {', '.join(names)}."})
    return kind
