"""An ordered endpoint's success is recorded in few round trips on PostgreSQL: its state, its
attempt, the endpoint's lock and the release of its next delivery go out together and are
answered together, its BEGIN and COMMIT with them. Counted from libpq's protocol trace of the
connection that records (the server's ReadyForQuery: one per wait for the server), never timed."""

from __future__ import annotations

import tempfile
import time
from typing import Any

import pytest
from django.db import connection

from deliveries import publish_event
from deliveries.engine import record
from deliveries.models import Attempt, Delivery
from deliveries.services.engines import engine_new
from deliveries.services.fanout import events_fan_out_pending
from endpoints.services import endpoint_create

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'"),
]


def _waits(trace: str) -> int:
    return sum(1 for line in trace.splitlines() if "\tB\t" in line and "ReadyForQuery" in line)


def test_an_ordered_success_is_recorded_in_one_round_trip(
    tenant, invoice_paid, receiver, monkeypatch
):  # type: ignore[no-untyped-def]
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok/rt"), ordered=True)
    events = [publish_event(tenant, "invoice.paid", {"n": n}) for n in range(3)]
    events_fan_out_pending(tenant_id=tenant.pk)
    waits: list[int] = []
    original = record.results_record

    def traced(finished: Any, **kwargs: Any) -> Any:
        """The real record, with the connection's protocol traced while it runs."""
        connection.ensure_connection()
        pgconn = connection.connection.pgconn
        with tempfile.TemporaryFile("w+") as out:
            pgconn.trace(out.fileno())
            try:
                return original(finished, **kwargs)
            finally:
                pgconn.untrace()
                out.seek(0)
                if all(f.ordered and f.handover is not None for f, _ in finished):
                    waits.append(_waits(out.read()))

    monkeypatch.setattr(record, "results_record", traced)
    engine = engine_new()
    deadline = time.monotonic() + 20
    while Delivery.objects.filter(endpoint=endpoint, status="succeeded").count() < 3:
        assert time.monotonic() < deadline, "the three deliveries did not succeed in time"
        engine.turn(wait=0.05)

    assert [r.headers["webhook-id"] for r in receiver.received("/ok/rt")] == [e.pk for e in events]
    assert Attempt.objects.filter(endpoint=endpoint).count() == 3
    # The first two successes handed their next delivery over (the last may, with room for a
    # next one): each record waited for the server once, the transaction and its commit at
    # once; the first also read its event type's retry schedule, kept for the rest.
    assert len(waits) >= 2
    assert waits[0] <= 2
    assert all(n == 1 for n in waits[1:]), waits
