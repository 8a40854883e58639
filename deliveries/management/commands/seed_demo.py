"""Seed a demo tenant, event type and endpoint (idempotent), for `make run`."""

import os
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
DEMO_PASSWORD = "admin"  # noqa: S105  (demo only; the message says so while it still applies)


def demo_receiver_port() -> int:
    """``DEMO_RECEIVER_PORT``, else 9000 — or the port after ``PORT`` when the dashboard itself
    was put on 9000, so the demo endpoint never points at the platform."""
    if os.environ.get("DEMO_RECEIVER_PORT"):
        return int(os.environ["DEMO_RECEIVER_PORT"])
    web = int(os.environ.get("PORT") or 8000)
    return web + 1 if web == 9000 else 9000


class Command(BaseCommand):
    help = "Create the demo tenant 'acme', event type 'invoice.paid' and a local endpoint."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--receiver-port",
            type=int,
            default=None,
            help="port of the demo receiver (default DEMO_RECEIVER_PORT, else 9000)",
        )

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
        port = options["receiver_port"] or demo_receiver_port()
        url = f"http://127.0.0.1:{port}/webhooks"
        endpoint = Endpoint.objects.filter(tenant=tenant, url=url, deleted_at__isnull=True).first()
        if endpoint is None:
            endpoint, _ = endpoint_create(
                tenant=tenant, url=url, description="local demo receiver", secret=DEMO_SECRET
            )
        user_model = get_user_model()
        admin = user_model.objects.filter(username="admin").first()
        if admin is None:
            admin = user_model.objects.create_superuser("admin", "admin@example.com", DEMO_PASSWORD)
            Membership.objects.get_or_create(user=admin, tenant=tenant)
        if admin.check_password(DEMO_PASSWORD):
            login = f"admin / {DEMO_PASSWORD} (change it)"
        else:
            login = "admin, with the password set for it"
        self.stdout.write(
            "Demo ready: tenant acme, event type invoice.paid, endpoint "
            f"{endpoint.pk} -> {url}\n"
            f"  signing secret: {endpoint_secret_current(endpoint=endpoint)}\n"
            f"  admin login: {login}\n"
            f"  demo receiver: manage.py receive_webhooks --port {port} --secret {DEMO_SECRET}"
        )
