"""Every page of the portal and the support console, in one registry the browser tests walk.

A page is a URL builder over a :class:`Scene` (a tenant with a push, a poll and a RabbitMQ
endpoint, deliveries, attempts, a job, a portal link and audit entries). A new page is one line in
``PAGES``; a test that needs more data adds it to :func:`build_scene`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from deliveries.models import Attempt, Delivery, FeedFetch, Job
from endpoints.models import Endpoint, Tenant

from ..conftest import make_delivery


@dataclass
class Scene:
    tenant: Tenant
    push: Endpoint
    poll: Endpoint
    queue: Endpoint
    failed: Delivery
    succeeded: Delivery
    polled: Delivery
    queued: Delivery
    attempt: Attempt
    queued_attempt: Attempt
    job: Job


@dataclass(frozen=True)
class SitePage:
    name: str
    #: "tenant" (a member's portal), "support" (staff) or "public" (signed out).
    audience: str
    url: Callable[[Scene], str]
    #: Pages a read-only member does not reach (forms that write).
    writes: bool = False
    #: The answer expected.
    status: int = 200


def _fixed(path: str) -> Callable[[Scene], str]:
    return lambda scene: path


PAGES: list[SitePage] = [
    SitePage("sign-in", "public", _fixed("/login/")),
    # The tenant's portal
    SitePage("endpoints", "tenant", _fixed("/endpoints/")),
    SitePage("endpoint-new", "tenant", _fixed("/endpoints/new/"), writes=True),
    SitePage("endpoint-push", "tenant", lambda s: f"/endpoints/{s.push.pk}/"),
    SitePage("endpoint-poll", "tenant", lambda s: f"/endpoints/{s.poll.pk}/"),
    SitePage("endpoint-queue", "tenant", lambda s: f"/endpoints/{s.queue.pk}/"),
    SitePage(
        "endpoint-queue-edit", "tenant", lambda s: f"/endpoints/{s.queue.pk}/edit/", writes=True
    ),
    SitePage("endpoint-edit", "tenant", lambda s: f"/endpoints/{s.push.pk}/edit/", writes=True),
    SitePage(
        "endpoint-poll-edit", "tenant", lambda s: f"/endpoints/{s.poll.pk}/edit/", writes=True
    ),
    SitePage(
        "endpoint-filter-test",
        "tenant",
        lambda s: f"/endpoints/{s.push.pk}/filter-test/",
        writes=True,
    ),
    SitePage("endpoint-delete", "tenant", lambda s: f"/endpoints/{s.push.pk}/delete/", writes=True),
    SitePage("endpoint-log", "tenant", lambda s: f"/endpoints/{s.push.pk}/deliveries/"),
    SitePage("deliveries", "tenant", _fixed("/deliveries/")),
    SitePage("deliveries-failed", "tenant", _fixed("/deliveries/?status=failed")),
    SitePage("delivery-failed", "tenant", lambda s: f"/deliveries/{s.failed.pk}/"),
    SitePage("delivery-succeeded", "tenant", lambda s: f"/deliveries/{s.succeeded.pk}/"),
    SitePage("delivery-polled", "tenant", lambda s: f"/deliveries/{s.polled.pk}/"),
    SitePage("delivery-queued", "tenant", lambda s: f"/deliveries/{s.queued.pk}/"),
    SitePage("attempt-queued", "tenant", lambda s: f"/attempts/{s.queued_attempt.pk}/"),
    SitePage("event", "tenant", lambda s: f"/events/{s.failed.event_id}/"),
    SitePage("attempt", "tenant", lambda s: f"/attempts/{s.attempt.pk}/"),
    SitePage("catalogue", "tenant", _fixed("/catalogue/")),
    SitePage("settings", "tenant", _fixed("/settings/")),
    SitePage("portal-links", "tenant", _fixed("/settings/portal-links/")),
    SitePage("search-miss", "tenant", _fixed("/search/?q=nothing")),
    SitePage("api-keys", "tenant", _fixed("/settings/api-keys/")),
    SitePage("scheduled-events", "tenant", _fixed("/events/scheduled/")),
    SitePage(
        "endpoint-transformation",
        "tenant",
        lambda s: f"/endpoints/{s.push.pk}/transformation/",
        writes=True,
    ),
    # The support console
    SitePage("support-home", "support", _fixed("/support/")),
    SitePage("support-failed", "support", _fixed("/support/deliveries/?status=failed")),
    SitePage("support-deliveries", "support", _fixed("/support/deliveries/")),
    SitePage("support-delivery", "support", lambda s: f"/support/deliveries/{s.failed.pk}/"),
    SitePage("support-attempt", "support", lambda s: f"/support/attempts/{s.attempt.pk}/"),
    SitePage("support-tenant", "support", lambda s: f"/support/tenants/{s.tenant.slug}/"),
    SitePage("support-jobs", "support", _fixed("/support/jobs/")),
    SitePage("support-job", "support", lambda s: f"/support/jobs/{s.job.pk}/"),
    SitePage("support-audit", "support", _fixed("/support/audit/")),
    SitePage("support-stuck", "support", _fixed("/support/stuck/")),
    SitePage("support-members", "support", lambda s: f"/support/tenants/{s.tenant.slug}/members/"),
]


def pages_for(audience: str, *, read_only: bool = False) -> list[SitePage]:
    return [p for p in PAGES if p.audience == audience and not (read_only and p.writes)]


LONG_URL = "https://127.0.0.1:8443/hooks/" + "billing-service/" * 3 + "invoice-events?v=2"


def build_scene(tenant: Tenant, event_type: Any, staff: Any) -> Scene:
    """The data every page shows something of: a push, a poll and a queue (RabbitMQ) endpoint,
    each delivery state that
    has its own panels, a read of the feed, a bulk job, a portal link and audit entries."""
    from deliveries.services.jobs import job_bulk_replay_create, job_recover_create
    from endpoints.portal import portal_link_create
    from endpoints.services import endpoint_create
    from endpoints.services.keys import audit_record

    push, _ = endpoint_create(
        tenant=tenant,
        url=LONG_URL,
        description="Billing: invoices and refunds",
        event_types=[event_type.name],
    )
    staging, _ = endpoint_create(
        tenant=tenant, url=LONG_URL.replace("v=2", "v=3"), description="Staging"
    )
    # An open circuit: support's "needs attention" row and its Retry now button.
    Endpoint.objects.filter(pk=staging.pk).update(
        circuit_state="open", circuit_opened_at=timezone.now(), failing_since=timezone.now()
    )
    poll, _ = endpoint_create(tenant=tenant, kind=Endpoint.Kind.POLL, description="Ledger feed")
    failed = make_delivery(push, event_type, status=Delivery.Status.FAILED)
    succeeded = make_delivery(
        push, event_type, status=Delivery.Status.SUCCEEDED, response_status=200
    )
    polled = make_delivery(poll, event_type, status=Delivery.Status.SUCCEEDED, response_status=None)
    FeedFetch.objects.create(endpoint=poll, consumer="ledger", after=0, count=1, last_position=1)
    # A destination beyond HTTP: its options (the password redacted) and its attempts' answers.
    queue, _ = endpoint_create(
        tenant=tenant,
        kind="rabbitmq",
        description="Invoices to the ledger queue",
        destination={
            "url": "amqp://ledger@127.0.0.1:5672/billing-vhost",
            "password": "guest",
            "exchange": "billing.invoices",
        },
    )
    queued = make_delivery(queue, event_type, status=Delivery.Status.SUCCEEDED, response_status=202)
    attempt = Attempt.objects.get(delivery=failed)
    job = job_bulk_replay_create(
        tenant=tenant,
        filters={"status": "failed", "since": (timezone.now() - timedelta(hours=6)).isoformat()},
        user=staff,
    )
    job_recover_create(endpoint=push, since=timezone.now() - timedelta(hours=1), user=staff)
    portal_link_create(tenant=tenant, created_by=staff)
    audit_record(
        action="delivery.replay",
        actor=staff,
        tenant=tenant,
        target=failed,
        details={"since": (timezone.now() - timedelta(hours=2)).isoformat(), "ids": [1, 2]},
    )
    return Scene(
        tenant=tenant,
        push=push,
        poll=poll,
        failed=failed,
        succeeded=succeeded,
        polled=polled,
        queue=queue,
        queued=queued,
        attempt=attempt,
        queued_attempt=Attempt.objects.get(delivery=queued),
        job=job,
    )
