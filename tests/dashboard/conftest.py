from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from deliveries.models import Attempt, Delivery, Event
from deliveries.services.publishing import event_body
from endpoints.models import Endpoint, EventType, Membership, Tenant
from endpoints.services import endpoint_create

PASSWORD = "correct-horse-battery"


def make_user(username: str, *, tenants: tuple[Tenant, ...] = (), **extra: Any):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD)
    for key, value in extra.items():
        setattr(user, key, value)
    user.save()
    for tenant in tenants:
        Membership.objects.create(user=user, tenant=tenant)
    return user


def make_delivery(
    endpoint: Endpoint,
    event_type: EventType,
    *,
    status: str = Delivery.Status.FAILED,
    response_status: int | None = 500,
    created_at: Any = None,
) -> Delivery:
    """A delivery with one recorded attempt, as the sender would have left it."""
    now = created_at or timezone.now()
    event = Event.objects.create(
        tenant=endpoint.tenant,
        event_type=event_type,
        body=event_body(event_type=event_type.name, created_at=now, payload={"n": 1}),
        created_at=now,
        fanned_out_at=now,
    )
    delivery = Delivery.objects.create(
        event=event,
        endpoint=endpoint,
        tenant=endpoint.tenant,
        event_type=event_type,
        status=status,
        attempt_count=0 if response_status is None else 1,
        last_status_code=response_status,
        last_attempt_at=None if response_status is None else now,
        finished_at=now if status in ("failed", "succeeded") else None,
    )
    if response_status is not None:
        Attempt.objects.create(
            delivery=delivery,
            endpoint=endpoint,
            number=1,
            trigger=Attempt.Trigger.SCHEDULED,
            started_at=now,
            duration_ms=12,
            request_url=endpoint.url,
            request_headers={"content-type": "application/json", "webhook-id": event.pk},
            response_status=response_status,
            response_headers={"content-type": "text/plain"},
            response_body=f"status {response_status}",
        )
    return delivery


@pytest.fixture
def member(tenant):  # type: ignore[no-untyped-def]
    return make_user("alice", tenants=(tenant,))


@pytest.fixture
def other_member(other_tenant):  # type: ignore[no-untyped-def]
    return make_user("bob", tenants=(other_tenant,))


@pytest.fixture
def staff(db):  # type: ignore[no-untyped-def]
    return make_user("sam", is_staff=True)


@pytest.fixture
def client_for():  # type: ignore[no-untyped-def]
    def build(user, *, csrf: bool = False) -> Client:  # type: ignore[no-untyped-def]
        client = Client(enforce_csrf_checks=csrf)
        client.force_login(user)
        return client

    return build


@pytest.fixture
def endpoint(tenant, invoice_paid) -> Endpoint:  # type: ignore[no-untyped-def]
    ep, _ = endpoint_create(
        tenant=tenant, url="http://127.0.0.1:9/hook", event_types=["invoice.paid"]
    )
    return ep


@pytest.fixture
def other_endpoint(other_tenant, invoice_paid) -> Endpoint:  # type: ignore[no-untyped-def]
    ep, _ = endpoint_create(tenant=other_tenant, url="http://127.0.0.1:9/globex")
    return ep


@pytest.fixture
def other_delivery(other_endpoint, invoice_paid) -> Delivery:  # type: ignore[no-untyped-def]
    return make_delivery(other_endpoint, invoice_paid)


@pytest.fixture
def failed_delivery(endpoint, invoice_paid) -> Delivery:  # type: ignore[no-untyped-def]
    return make_delivery(endpoint, invoice_paid, created_at=timezone.now() - timedelta(minutes=5))
