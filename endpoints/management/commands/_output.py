"""Shared output for management commands: a readable line, or one JSON object with --json."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


def add_json_flag(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def emit(command: BaseCommand, options: dict[str, Any], data: dict[str, Any], text: str) -> None:
    if options.get("json"):
        command.stdout.write(json.dumps(data, default=str))
    else:
        command.stdout.write(text)


def validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


def fail(exc: ValidationError) -> CommandError:
    return CommandError(validation_message(exc))
