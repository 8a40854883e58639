import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from endpoints.services import event_type_create

from ._output import add_json_flag, emit, fail


class Command(BaseCommand):
    help = "Add an event type (such as invoice.paid) to the catalogue."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name")
        parser.add_argument("--description", default="")
        parser.add_argument("--schema", help="a JSON Schema, as JSON text")
        parser.add_argument("--example", help="an example payload, as JSON text")
        add_json_flag(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        parsed = {}
        for key in ("schema", "example"):
            if options[key] is not None:
                try:
                    parsed[key] = json.loads(options[key])
                except json.JSONDecodeError as exc:
                    raise CommandError(f"--{key} is not valid JSON: {exc}") from exc
        try:
            event_type = event_type_create(
                name=options["name"], description=options["description"], **parsed
            )
        except ValidationError as exc:
            raise fail(exc) from exc
        emit(
            self,
            options,
            {"id": event_type.pk, "name": event_type.name, "description": event_type.description},
            f"Created event type {event_type.name}.",
        )
