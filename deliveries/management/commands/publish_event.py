import json
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
        parser.add_argument("payload", help="the payload, as JSON text")
        parser.add_argument("--idempotency-key", dest="idempotency_key")
        add_json_flag(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            payload = json.loads(options["payload"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"payload is not valid JSON: {exc}") from exc
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
