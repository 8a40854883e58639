from typing import Any

from django.core.management.base import BaseCommand, CommandError

from endpoints.selectors import tenant_get
from endpoints.services import api_key_create

from ._output import add_json_flag, emit


class Command(BaseCommand):
    help = (
        "Create an API key and print it. Without --tenant it is a platform key (every tenant, "
        "and the event-type catalogue). The key is shown once: only its hash is stored."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", default=None, help="slug or id of the tenant")
        parser.add_argument("--name", default="", help="a label, such as 'billing service'")
        parser.add_argument(
            "--read-only", action="store_true", help="a key that can only read (GET)"
        )
        add_json_flag(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = None
        if options["tenant"] is not None:
            tenant = tenant_get(key=options["tenant"])
            if tenant is None:
                raise CommandError(f"No tenant {options['tenant']!r}.")
        api_key, key = api_key_create(
            tenant=tenant, name=options["name"], read_only=options["read_only"]
        )
        scope = f"tenant {tenant.slug}" if tenant else "platform"
        if api_key.read_only:
            scope = f"read-only {scope}"
        emit(
            self,
            options,
            {
                "id": api_key.pk,
                "prefix": api_key.prefix,
                "tenant": tenant.slug if tenant else None,
                "name": api_key.name,
                "read_only": api_key.read_only,
                "key": key,
            },
            f"Created {scope} API key {api_key.prefix} (id {api_key.pk}). "
            f"Store it now; it cannot be shown again:\n{key}",
        )
