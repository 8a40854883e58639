"""Deleting a tenant (Svix's app delete) while its events fan out and its deliveries are on the
wire: the delete takes the fan-out's lock order, so neither side fails on a foreign key, and the
recorder drops only the attempts that lost their delivery."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from deliveries import publish_event
from deliveries.engine.claim import Want, claim
from deliveries.engine.record import Flight, results_record
from deliveries.models import Attempt, Delivery, Event
from deliveries.services import endpoint_lifecycle
from deliveries.services.engines import ENGINE_EFFECTS
from deliveries.services.fanout import events_fan_out_pending
from deliveries.transport import AttemptResult
from endpoints.models import Endpoint, Tenant
from endpoints.services import api_key_create, endpoint_create, tenant_create
from platform_core.conf import webhooks_settings

pytestmark = pytest.mark.django_db(transaction=True)
postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="row locks: PostgreSQL"
)


def _app_delete(client: Client, token: str, tenant: Tenant) -> int:
    response = client.delete(
        f"/api/v1/app/{tenant.public_id}/", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    return response.status_code


@postgresql_only
def test_app_delete_waits_for_a_fan_out_in_flight_and_deletes_what_it_created(tenant, invoice_paid):
    """The race CI met: the delete removed the endpoints while a fan-out, holding its event's
    row, was inserting their deliveries; the delete then failed on the foreign key (500)."""
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/a")
    with transaction.atomic():
        event = publish_event(tenant, "invoice.paid", {"n": 1})
    Delivery.objects.filter(event=event).delete()  # as if its fan-out had not run yet
    _, token = api_key_create(name="platform")
    inserted = threading.Event()
    release = threading.Event()

    def fan_out_in_flight() -> None:
        try:
            with transaction.atomic():
                Event.objects.select_for_update().get(pk=event.pk)
                Delivery.objects.create(
                    event=event,
                    endpoint=endpoint,
                    tenant=tenant,
                    event_type_id=event.event_type_id,
                    status=Delivery.Status.PENDING,
                )
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    statuses: list[int] = []

    def delete() -> None:
        try:
            statuses.append(_app_delete(Client(), token, tenant))
        finally:
            connection.close()

    fan_out = threading.Thread(target=fan_out_in_flight)
    fan_out.start()
    assert inserted.wait(10)
    deleting = threading.Thread(target=delete)
    deleting.start()
    time.sleep(0.5)  # let the delete reach the rows the fan-out holds
    release.set()
    fan_out.join(10)
    deleting.join(20)

    assert statuses == [204]
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert not Delivery.objects.exists()
    assert not Endpoint.objects.exists()


@postgresql_only
@pytest.mark.parametrize("round_", range(8))
def test_publish_fan_out_and_app_delete_at_once_never_fail(round_, invoice_paid):
    """Real publishes and fan-outs racing a real app delete: 204, and the fan-out ends cleanly."""
    tenant = tenant_create(slug=f"race-{round_}", name="Race")
    for n in range(3):
        endpoint_create(tenant=tenant, url=f"http://127.0.0.1:9/{n}")
    _, token = api_key_create(name="platform")
    start = threading.Barrier(3)
    errors: list[BaseException] = []
    statuses: list[int] = []

    def publishing() -> None:
        try:
            start.wait(5)
            for n in range(30):
                try:
                    publish_event(tenant, "invoice.paid", {"n": n})
                except Exception as exc:  # the tenant is gone: a clear refusal, not a crash
                    if not Tenant.objects.filter(pk=tenant.pk).exists():
                        break
                    errors.append(exc)
        finally:
            connection.close()

    def fanning_out() -> None:
        try:
            start.wait(5)
            for _ in range(30):
                events_fan_out_pending(tenant_id=tenant.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def deleting() -> None:
        try:
            start.wait(5)
            time.sleep(0.02 * (round_ % 4))
            statuses.append(_app_delete(Client(), token, tenant))
        finally:
            connection.close()

    threads = [threading.Thread(target=t) for t in (publishing, fanning_out, deleting)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert statuses == [204]
    assert errors == []
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert not Delivery.objects.filter(tenant_id=tenant.pk).exists()


def test_the_recorder_drops_the_attempt_of_a_delivery_deleted_in_flight_not_the_batch(
    tenant, other_tenant, invoice_paid
):
    """An app deleted while one of its deliveries is on the wire: the attempt of that delivery
    has nothing to belong to; the others recorded in the same batch must still be written."""
    gone, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/gone")
    kept, _ = endpoint_create(tenant=other_tenant, url="http://127.0.0.1:9/kept")
    publish_event(tenant, "invoice.paid", {"n": 1})
    publish_event(other_tenant, "invoice.paid", {"n": 2})
    events_fan_out_pending(tenant_id=tenant.pk)
    events_fan_out_pending(tenant_id=other_tenant.pk)
    Delivery.objects.update(next_attempt_at=timezone.now())
    now = timezone.now()
    claimed = claim(
        [Want(gone.pk, 1), Want(kept.pk, 1)],
        now=now,
        lease_until=now + timedelta(minutes=5),
        token=uuid.uuid4(),
    )
    assert len(claimed) == 2
    endpoint_lifecycle.tenant_delete(tenant=tenant)
    answered = [
        (Flight(claimed=c, url="http://127.0.0.1:9/"), AttemptResult(None, now, 3, status=200))
        for c in claimed
    ]

    report = results_record(answered, ws=webhooks_settings(), effects=ENGINE_EFFECTS)

    assert report.succeeded == 1
    survivor = Delivery.objects.get()
    assert (survivor.endpoint_id, survivor.status) == (kept.pk, Delivery.Status.SUCCEEDED)
    attempts = Attempt.objects.values_list("delivery_id", "response_status")
    assert list(attempts) == [(survivor.pk, 200)]
