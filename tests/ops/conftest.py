from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from deliveries.models import Attempt, Delivery, Event
from deliveries.services.publishing import event_publish
from endpoints.models import Endpoint, EventType, Tenant
from endpoints.services import endpoint_create

MakeDelivery = Callable[..., Delivery]


@pytest.fixture
def endpoint(tenant: Tenant, invoice_paid: EventType) -> Endpoint:
    return endpoint_create(tenant=tenant, url="http://127.0.0.1:9/hook")[0]


@pytest.fixture
def make_delivery(tenant: Tenant, invoice_paid: EventType, endpoint: Endpoint) -> MakeDelivery:
    """An event and its delivery to ``endpoint``, ``age`` old, with ``attempts`` attempts.

    Ids are time-ordered in production, and the purge relies on it: make older rows first.
    """

    def make(
        *,
        age: timedelta,
        status: str = Delivery.Status.SUCCEEDED,
        attempts: int = 1,
        response_body: str = "thanks",
        to: Endpoint | None = None,
    ) -> Delivery:
        at: datetime = timezone.now() - age
        event = event_publish(tenant=tenant, event_type="invoice.paid", payload={"n": 1})
        Event.objects.filter(pk=event.pk).update(created_at=at, fanned_out_at=at)
        target = to or endpoint
        delivery = Delivery.objects.create(
            event=event,
            endpoint=target,
            tenant=tenant,
            event_type=invoice_paid,
            status=status,
            attempt_count=attempts,
            next_attempt_at=at if status == Delivery.Status.PENDING else None,
            lease_expires_at=timezone.now() + timedelta(minutes=1)
            if status == Delivery.Status.SENDING
            else None,
        )
        finished = status not in (Delivery.Status.PENDING, Delivery.Status.SENDING)
        Delivery.objects.filter(pk=delivery.pk).update(
            created_at=at, finished_at=at if finished else None
        )
        Attempt.objects.bulk_create(
            Attempt(
                delivery=delivery,
                endpoint=target,
                number=n,
                trigger=Attempt.Trigger.SCHEDULED,
                started_at=at,
                duration_ms=12,
                request_url=target.url,
                response_status=200 if status == Delivery.Status.SUCCEEDED else 500,
                response_body=response_body,
            )
            for n in range(1, attempts + 1)
        )
        delivery.refresh_from_db()
        return delivery

    return make
