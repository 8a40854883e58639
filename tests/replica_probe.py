"""What the dashboard shows with a real, streaming replica behind ``DATABASE_REPLICA_URL``.

Run by ``tests/e2e/test_replica.py`` in a process of its own (its settings come from the
environment: ``DATABASE_URL`` is the private primary, ``DATABASE_REPLICA_URL`` its replica);
prints one JSON object of observations. Replay on the replica is paused half-way, so what a
page shows tells which server it read.
"""

from __future__ import annotations

import json
import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webhooks_platform.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from deliveries import publish_event  # noqa: E402
from deliveries.models import Delivery  # noqa: E402
from deliveries.services.fanout import events_fan_out_pending  # noqa: E402
from endpoints.models import Membership  # noqa: E402
from endpoints.services import endpoint_create, event_type_create, tenant_create  # noqa: E402


def _until(predicate, timeout: float = 30) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _on_replica(pk: int) -> bool:
    return Delivery.objects.using("replica").filter(pk=pk).exists()


def _replica(sql: str) -> None:
    with connections["replica"].cursor() as cursor:
        cursor.execute(sql)


def _log(client: Client) -> dict[str, object]:
    page = client.get(reverse("delivery-log")).content.decode()
    return {
        "ids": sorted(pk for pk in (first, second) if f'data-delivery="{pk}"' in page),
        "behind": "behind the primary" in page,
    }


call_command("migrate", verbosity=0)
tenant = tenant_create(slug="acme", name="Acme")
event_type_create(name="invoice.paid", description="An invoice was paid.")
endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/hook")
user = get_user_model().objects.create_user("ann", "ann@example.com", "pw-not-used-1234")
Membership.objects.create(user=user, tenant=tenant)


def _publish() -> int:
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    events_fan_out_pending(tenant_id=tenant.pk)
    return Delivery.objects.get(event=event).pk


first = _publish()
second = 0
seen: dict[str, object] = {"first_replicated": _until(lambda: _on_replica(first))}
reader = Client()
reader.force_login(user)
seen["caught_up"] = _log(reader)

_replica("SELECT pg_wal_replay_pause()")
second = _publish()
time.sleep(float(os.environ["DATABASE_REPLICA_LAG_NOTICE"]) + 0.5)
seen["paused"] = _log(reader)
seen["primary_outside_lagging_reads"] = Delivery.objects.filter(pk=second).exists()
detail = reader.get(reverse("delivery-detail", args=[second]))
seen["paused_detail_status"] = detail.status_code

writer = Client()
writer.force_login(user)
replay = writer.post(reverse("delivery-replay", args=[second]))
seen["replay_status"] = replay.status_code
seen["after_own_write"] = _log(writer)
seen["other_reader_after_write"] = _log(reader)
endpoint_page = reader.get(reverse("endpoint-detail", args=[endpoint.pk]))
seen["endpoint_page"] = {
    "status": endpoint_page.status_code,
    "behind": "behind the primary" in endpoint_page.content.decode(),
}

_replica("SELECT pg_wal_replay_resume()")
seen["second_replicated"] = _until(lambda: _on_replica(second))
seen["resumed"] = _log(reader)
print(json.dumps(seen))
