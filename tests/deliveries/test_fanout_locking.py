"""One lock order for fan-out: the event row first, then its deliveries (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from deliveries import publish_event
from deliveries.models import Delivery, Event
from deliveries.services.fanout import event_fan_out
from endpoints.services import endpoint_create

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="row locks: PostgreSQL"),
]


def test_a_single_fan_out_skips_an_event_a_drain_holds_instead_of_waiting_on_it(
    tenant, invoice_paid
):
    """The deadlock the review found: the one-event fan-out inserted deliveries and then waited
    for the event row, while the tenant drain held the row and waited for those inserts."""
    endpoint_create(tenant=tenant, url="http://127.0.0.1:9/a")
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    held = threading.Event()
    release = threading.Event()

    def drain_holding_the_row() -> None:
        try:
            with transaction.atomic():
                Event.objects.select_for_update().get(pk=event.pk)
                held.set()
                release.wait(10)
        finally:
            connection.close()

    outcome: list[int] = []

    def single_fan_out() -> None:
        try:
            outcome.append(event_fan_out(event_id=event.pk))
        finally:
            connection.close()

    drain = threading.Thread(target=drain_holding_the_row)
    drain.start()
    assert held.wait(10)
    single = threading.Thread(target=single_fan_out)
    single.start()
    single.join(3)
    finished_while_held = not single.is_alive()
    release.set()
    drain.join(10)
    single.join(10)

    assert finished_while_held
    assert outcome == [0]
    assert not Delivery.objects.exists()
