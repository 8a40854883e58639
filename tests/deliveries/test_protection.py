"""Circuit breaker, rate limit, per-endpoint concurrency: what waits is postponed, not failed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deliveries import publish_event
from deliveries.models import Attempt, Delivery
from deliveries.services.endpoint_lifecycle import endpoint_update
from deliveries.services.fanout import event_fan_out
from deliveries.services.sending import deliveries_send
from endpoints.models import Endpoint
from endpoints.services import endpoint_create

pytestmark = pytest.mark.django_db


def _publish(tenant, count):
    ids = []
    for i in range(count):
        event = publish_event(tenant, "invoice.paid", {"n": i})
        event_fan_out(event_id=event.pk)
        ids.extend(Delivery.objects.filter(event=event).values_list("id", flat=True))
    return ids


def _due_now(ids):
    Delivery.objects.filter(id__in=ids, status="pending").update(next_attempt_at=timezone.now())


def test_circuit_opens_holds_new_deliveries_probes_and_closes(
    receiver, tenant, invoice_paid, settings
):
    settings.WEBHOOKS_CIRCUIT_FAILURE_THRESHOLD = 3
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/status/500"))
    for delivery_id in _publish(tenant, 3):
        deliveries_send(delivery_ids=[delivery_id])
    endpoint.refresh_from_db()
    assert (endpoint.circuit_state, endpoint.consecutive_failures) == ("open", 3)
    assert endpoint.circuit_next_probe_at > timezone.now()

    # New deliveries wait while the circuit is open: no request, no try used.
    held = _publish(tenant, 4)
    summary = deliveries_send(delivery_ids=held)
    assert (summary.claimed, summary.postponed) == (4, 4)
    assert len(receiver.received()) == 3
    assert set(Delivery.objects.filter(id__in=held).values_list("status", "attempt_count")) == {
        ("pending", 0)
    }

    # When the probe is due, exactly one delivery goes out.
    Endpoint.objects.filter(pk=endpoint.pk).update(circuit_next_probe_at=timezone.now())
    _due_now(held)
    summary = deliveries_send(delivery_ids=held)
    assert (summary.retrying, summary.postponed) == (1, 3)
    assert len(receiver.received()) == 4

    # The receiver recovers; the next probe succeeds, closes the circuit and frees the backlog.
    endpoint_update(endpoint=endpoint, url=receiver.url("/ok"))
    Endpoint.objects.filter(pk=endpoint.pk).update(circuit_next_probe_at=timezone.now())
    _due_now(held)
    deliveries_send(delivery_ids=held[:2])  # one probe, one postponed
    endpoint.refresh_from_db()
    assert endpoint.circuit_state == "closed"
    assert endpoint.consecutive_failures == 0
    waiting = Delivery.objects.filter(endpoint=endpoint, status="pending")
    assert waiting.count() == 6  # 3 from before the circuit opened + 3 held
    assert all(d.next_attempt_at <= timezone.now() for d in waiting)
    summary = deliveries_send(delivery_ids=list(waiting.values_list("id", flat=True)))
    assert summary.succeeded == 6


def test_rate_limit_postpones_the_excess_into_later_slots(receiver, tenant, invoice_paid):
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    Endpoint.objects.filter(pk=endpoint.pk).update(rate_limit=5)
    ids = _publish(tenant, 12)
    before = timezone.now()

    summary = deliveries_send(delivery_ids=ids)

    assert (summary.succeeded, summary.postponed) == (5, 7)
    assert len(receiver.received()) == 5
    later = sorted(
        Delivery.objects.filter(id__in=ids, status="pending").values_list(
            "next_attempt_at", flat=True
        )
    )
    assert len(later) == 7
    assert later[0] >= before + timedelta(seconds=0.9)
    assert later[-1] >= before + timedelta(seconds=2.0)  # one slot every 0.2 s
    assert (
        not Attempt.objects.filter(delivery_id__in=[d for d in ids])
        .exclude(response_status=200)
        .exists()
    )


def test_rate_limit_is_shared_between_batches(receiver, tenant, invoice_paid):
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    Endpoint.objects.filter(pk=endpoint.pk).update(rate_limit=3)
    ids = _publish(tenant, 6)

    first = deliveries_send(delivery_ids=ids[:3])
    second = deliveries_send(delivery_ids=ids[3:])  # within the same second

    assert (first.succeeded, second.succeeded, second.postponed) == (3, 0, 3)


def test_one_endpoint_holds_a_capped_number_of_requests(receiver, tenant, invoice_paid, settings):
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 2
    settings.WEBHOOKS_ATTEMPT_TIMEOUT = 1.5  # a queued request must start within 3 s
    endpoint_create(tenant=tenant, url=receiver.url("/hang/1"))
    ids = _publish(tenant, 10)

    summary = deliveries_send(delivery_ids=ids)

    # Two in flight; as many wait behind them as can start within 3 s at ~1 s each (six in
    # all); the other four come back at once, postponed, without using a try. (On a loaded
    # machine a queued one may also miss its start budget: postponed too, never failed.)
    assert summary.succeeded + summary.postponed == 10
    assert summary.postponed >= 4
    assert summary.succeeded >= 4
    assert summary.retrying == summary.failed == 0
    arrivals = sorted(r.at for r in receiver.received())
    assert arrivals[1] - arrivals[0] < 0.8  # the first two went out together
    assert arrivals[2] - arrivals[0] >= 0.9  # the third waited for a free slot
    assert set(
        Delivery.objects.filter(status="pending").values_list("attempt_count", flat=True)
    ) == {0}


def test_a_queued_request_that_cannot_start_in_time_is_postponed(receiver):
    import ipaddress

    from deliveries import transport

    options = transport.TransportOptions(
        timeout=5,
        allowed_subnets=(ipaddress.ip_network("127.0.0.0/8"),),
        per_group_limit=1,
        start_within=0.5,
    )
    requests = [
        transport.OutboundRequest(
            key=i, url=receiver.url(f"/hang/1?n={i}"), headers={}, body=b"{}", group="slow"
        )
        for i in range(3)
    ]

    outcomes = [o for batch in transport.send_batches(requests, options) for o in batch]

    sent = [o for o in outcomes if isinstance(o, transport.AttemptResult)]
    postponed = [o for o in outcomes if isinstance(o, transport.Postponed)]
    assert (len(sent), len(postponed)) == (1, 2)
    assert sent[0].status == 200
    assert len(receiver.received()) == 1
