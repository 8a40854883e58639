import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from deliveries import PublishError, publish_event
from endpoints.management.commands._output import add_json_flag, emit
from endpoints.management.commands.create_endpoint import tenant_lookup


class Command(BaseCommand):
    help = "Publish an event to every subscribed endpoint of a tenant."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("tenant", help="tenant slug or id")
        parser.add_argument("event_type")
        parser.add_argument(
            "payload",
            help="the payload: JSON text, @FILE to read it from a file, or - for standard input",
        )
        parser.add_argument("--idempotency-key", dest="idempotency_key")
        add_json_flag(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        payload = json_argument(options["payload"])
        tenant = tenant_lookup(options["tenant"])
        try:
            event = publish_event(
                tenant, options["event_type"], payload, idempotency_key=options["idempotency_key"]
            )
        except PublishError as exc:
            raise CommandError(str(exc)) from exc
        emit(
            self,
            options,
            {
                "id": event.pk,
                "tenant": tenant.slug,
                "event_type": options["event_type"],
                "created_at": event.created_at.isoformat(),
            },
            f"Published {event.pk} ({options['event_type']}) for {tenant.slug}.",
        )


def json_argument(value: str) -> Any:
    """JSON given inline, as ``@path`` (a large payload does not fit in an argument) or ``-``."""
    source = "payload"
    if value == "-":
        text, source = sys.stdin.read(), "standard input"
    elif value.startswith("@"):
        path = Path(value[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read the payload from {path}: {exc}") from exc
        source = str(path)
    else:
        text = value
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{source} is not valid JSON: {exc}") from exc
