import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from endpoints import destinations
from endpoints.models import Endpoint, Tenant
from endpoints.retry_schedule import ScheduleError, schedule_parse
from endpoints.selectors import tenant_get
from endpoints.services import endpoint_create

from ._output import add_json_flag, emit, fail


class Command(BaseCommand):
    help = "Register an endpoint for a tenant; prints its id and signing secret."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("tenant", help="tenant slug or id")
        parser.add_argument(
            "url", nargs="?", default="", help="the URL of a push endpoint (none for other kinds)"
        )
        parser.add_argument(
            "--kind",
            default="push",
            help="push (default), poll, or a destination kind: "
            + ", ".join(
                n for n, _ in destinations.kind_choices() if destinations.is_destination(n)
            ),
        )
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            dest="options",
            help="a destination option NAME=VALUE (repeatable; true/false and whole numbers "
            "are typed), e.g. --option url=amqp://app@mq.example.com/ --option exchange=events",
        )
        parser.add_argument(
            "--destination",
            help="a destination's options as JSON, or @FILE (keeps a password off the command "
            "line)",
        )
        parser.add_argument(
            "--event-type",
            action="append",
            default=[],
            dest="event_types",
            help="subscribe to this type (repeatable; none means every type)",
        )
        parser.add_argument("--description", default="")
        parser.add_argument("--header", action="append", default=[], help="NAME=VALUE")
        parser.add_argument("--secret", help="use this whsec_ secret instead of a new one")
        parser.add_argument(
            "--filter",
            dest="payload_filter",
            help='payload filter as JSON, e.g. \'{"data.amount": {"$gte": 1000}}\'',
        )
        parser.add_argument(
            "--retry-schedule",
            help="delays between tries, e.g. '10s, 5m, 1h' ('none': a single try; "
            "default: the event type's or the platform's)",
        )
        parser.add_argument(
            "--ordered",
            action="store_true",
            help="one delivery at a time, in publish order",
        )
        parser.add_argument(
            "--signature-style",
            choices=Endpoint.SignatureStyle.values,
            default=Endpoint.SignatureStyle.STANDARD,
            help="how requests are signed (default: standard, Standard Webhooks)",
        )
        add_json_flag(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_lookup(options["tenant"])
        headers = {}
        for item in options["header"]:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--header {item!r}: use NAME=VALUE")
            headers[name] = value
        payload_filter = None
        if options["payload_filter"]:
            try:
                payload_filter = json.loads(options["payload_filter"])
            except ValueError as exc:
                raise CommandError(f"--filter is not valid JSON: {exc}") from exc
        destination = destination_options(options["destination"], options["options"])
        try:
            schedule = schedule_parse(options["retry_schedule"] or "")
        except ScheduleError as exc:
            raise CommandError(f"--retry-schedule: {exc}") from exc
        try:
            endpoint, secret = endpoint_create(
                tenant=tenant,
                url=options["url"],
                description=options["description"],
                event_types=options["event_types"],
                headers=headers,
                secret=options["secret"],
                signature_style=options["signature_style"],
                payload_filter=payload_filter,
                retry_schedule=schedule,
                ordered=options["ordered"],
                kind=options["kind"],
                destination=destination,
            )
        except ValidationError as exc:
            raise fail(exc) from exc
        types = sorted(options["event_types"])
        label = "public key:" if endpoint.signature_style == "ed25519" else "secret:"
        emit(
            self,
            options,
            {
                "id": endpoint.pk,
                "tenant": tenant.slug,
                "url": endpoint.url,
                "event_types": types,
                "signature_style": endpoint.signature_style,
                "filter": endpoint.payload_filter,
                "retry_schedule": endpoint.retry_schedule,
                "ordered": endpoint.ordered,
                "kind": endpoint.kind,
                "destination": destinations.config_redacted(endpoint.kind, endpoint.destination),
                "secret": secret,
            },
            f"Created endpoint {endpoint.pk} for {tenant.slug}\n"
            f"  kind:        {endpoint.kind}\n"
            f"  url:         {endpoint.url}\n"
            f"  event types: {', '.join(types) or 'all'}\n"
            f"  signatures:  {endpoint.signature_style}\n"
            f"  {label:<13}{secret}",
        )


def destination_options(text: str | None, pairs: list[str]) -> dict[str, Any] | None:
    """The options of ``--destination`` (JSON or @FILE) and ``--option NAME=VALUE``."""
    if not text and not pairs:
        return None
    options: dict[str, Any] = {}
    if text:
        if text.startswith("@"):
            try:
                with open(text[1:], encoding="utf-8") as f:
                    text = f.read()
            except OSError as exc:
                raise CommandError(f"--destination {text}: {exc.strerror}") from exc
        try:
            options = json.loads(text)
        except ValueError as exc:
            raise CommandError(f"--destination is not valid JSON: {exc}") from exc
        if not isinstance(options, dict):
            raise CommandError("--destination must be a JSON object of options")
    for item in pairs:
        name, sep, value = item.partition("=")
        if not sep:
            raise CommandError(f"--option {item!r}: use NAME=VALUE")
        typed: Any = value
        if value in ("true", "false"):
            typed = value == "true"
        elif value.isdigit():
            typed = int(value)
        options[name] = typed
    return options


def tenant_lookup(value: str) -> Tenant:
    tenant = tenant_get(key=value)
    if tenant is None:
        raise CommandError(f"no tenant {value!r}; create it with create_tenant")
    return tenant
