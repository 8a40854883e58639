"""The ordered release statement searches each endpoint's head once per statement.

Inlined into the ``UPDATE``, the search depended on the planner's estimates. With statistics
that had not yet seen a burst of held rows, the planner ran it again for every held delivery:
one record that released the next of 10 ordered endpoints with 50 held deliveries each took
250,000 index probes. A fresh test database has exactly such statistics.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection  # noqa: F401  read by the skipif condition
from django.utils import timezone

from deliveries import ordering, publish_events
from deliveries.models import Delivery
from deliveries.services.fanout import events_fan_out_pending
from endpoints.services import endpoint_create
from platform_core.db import bound_cursor

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the PostgreSQL statement"),
]


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


def test_the_release_statement_searches_each_endpoint_s_head_once(tenant, invoice_paid, receiver):  # type: ignore[no-untyped-def]
    endpoints = [
        endpoint_create(tenant=tenant, url=receiver.url(f"/ok/ordered-{i}"), ordered=True)[0]
        for i in range(10)
    ]
    publish_events(tenant, [{"event_type": "invoice.paid", "payload": {"n": n}} for n in range(20)])
    events_fan_out_pending(tenant_id=tenant.pk)
    # Each endpoint's head is pending; take it out of the way so that the statement releases.
    Delivery.objects.filter(endpoint__in=endpoints, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.SUCCEEDED
    )
    ids = sorted(e.pk for e in endpoints)
    now = timezone.now()

    with bound_cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + ordering._RELEASE_SQL,
            [ids, [None] * len(ids), [None] * len(ids), now, now],
        )
        plan = cursor.fetchone()[0][0]["Plan"]

    heads = [n for n in _nodes(plan) if n.get("Subplan Name") == "CTE heads"]
    assert len(heads) == 1, "the heads are searched inside the UPDATE's join"
    assert heads[0]["Actual Loops"] == 1
    assert heads[0]["Actual Rows"] == len(ids)  # one head released per endpoint
