"""Seed a demo tenant, event type and endpoint (idempotent), for `make run`."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from endpoints.models import Endpoint, EventType, Membership, Tenant
from endpoints.services import (
    endpoint_create,
    endpoint_secret_current,
    event_type_create,
    tenant_create,
)

DEMO_SECRET = "whsec_ZGVtby1zZWNyZXQtZm9yLWxvY2FsLWRldmVsb3BtZW50"  # noqa: S105  (demo only)


class Command(BaseCommand):
    help = "Create the demo tenant 'acme', event type 'invoice.paid' and a local endpoint."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--receiver-port", type=int, default=9000)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug="acme").first() or tenant_create(
            slug="acme", name="Acme Inc."
        )
        if not EventType.objects.filter(name="invoice.paid").exists():
            event_type_create(
                name="invoice.paid",
                description="An invoice was paid in full.",
                schema={
                    "type": "object",
                    "properties": {"invoice_id": {"type": "string"}, "amount": {"type": "integer"}},
                    "required": ["invoice_id"],
                },
                example={"invoice_id": "in_123", "amount": 4200},
            )
        url = f"http://127.0.0.1:{options['receiver_port']}/webhooks"
        endpoint = Endpoint.objects.filter(tenant=tenant, url=url, deleted_at__isnull=True).first()
        if endpoint is None:
            endpoint, _ = endpoint_create(
                tenant=tenant, url=url, description="local demo receiver", secret=DEMO_SECRET
            )
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            user = user_model.objects.create_superuser("admin", "admin@example.com", "admin")
            Membership.objects.get_or_create(user=user, tenant=tenant)
        self.stdout.write(
            "Demo ready: tenant acme, event type invoice.paid, endpoint "
            f"{endpoint.pk} -> {url}\n"
            f"  signing secret: {endpoint_secret_current(endpoint=endpoint)}\n"
            "  admin login: admin / admin (change it)"
        )
