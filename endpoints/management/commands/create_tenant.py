from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from endpoints.services import tenant_create

from ._output import add_json_flag, emit, fail


class Command(BaseCommand):
    help = "Create a tenant."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", default="")
        add_json_flag(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = tenant_create(slug=options["slug"], name=options["name"])
        except ValidationError as exc:
            raise fail(exc) from exc
        emit(
            self,
            options,
            {"id": tenant.pk, "slug": tenant.slug, "name": tenant.name},
            f"Created tenant {tenant.slug} (id {tenant.pk}).",
        )
