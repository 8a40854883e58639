"""The dashboard's tenant-scoped lookups: a tenant's event, delivery, attempt or job by its id, or
a 404. Another tenant's is a 404 as a missing one is (``tenant=None``, support's views only: any
tenant's). The reads are ``selectors``'; this only turns "none" into the page's 404."""

from __future__ import annotations

from typing import TypeVar

from django.http import Http404

from endpoints.models import Tenant

from . import selectors
from .models import Attempt, Delivery, Event, Job

T = TypeVar("T")


def _found(found: T | None, what: str) -> T:
    if found is None:
        raise Http404(f"No such {what}.")
    return found


def event_or_404(tenant: Tenant, event_id: str) -> Event:
    return _found(selectors.event_get(tenant=tenant, event_id=event_id), "event")


def delivery_or_404(tenant: Tenant | None, delivery_id: int) -> Delivery:
    return _found(selectors.delivery_get(tenant=tenant, delivery_id=delivery_id), "delivery")


def attempt_or_404(tenant: Tenant | None, attempt_id: int) -> Attempt:
    return _found(selectors.attempt_get(tenant=tenant, attempt_id=attempt_id), "attempt")


def job_or_404(tenant: Tenant | None, job_id: int) -> Job:
    return _found(selectors.job_get(tenant=tenant, job_id=job_id), "job")
