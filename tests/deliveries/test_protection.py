"""Circuit breaker and rate limit: what waits stays pending and uses no try."""

import pytest
from django.utils import timezone

from deliveries import publish_event
from deliveries.models import Delivery
from deliveries.services.endpoint_lifecycle import endpoint_update
from deliveries.services.fanout import event_fan_out
from endpoints.models import Endpoint
from endpoints.services import endpoint_create
from tests.engine import deliver_due

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
    for _ in _publish(tenant, 3):
        deliver_due()
    endpoint.refresh_from_db()
    assert (endpoint.circuit_state, endpoint.consecutive_failures) == ("open", 3)
    assert endpoint.circuit_next_probe_at > timezone.now()

    # New deliveries wait while the circuit is open: no request, no try used.
    held = _publish(tenant, 4)
    summary = deliver_due()
    assert (summary.succeeded, summary.retrying, summary.failed) == (0, 0, 0)
    assert len(receiver.received()) == 3
    assert set(Delivery.objects.filter(id__in=held).values_list("status", "attempt_count")) == {
        ("pending", 0)
    }

    # When the probe is due, exactly one delivery goes out.
    Endpoint.objects.filter(pk=endpoint.pk).update(circuit_next_probe_at=timezone.now())
    _due_now(held)
    summary = deliver_due()
    assert summary.retrying == 1
    assert len(receiver.received()) == 4

    # The receiver recovers; the next probe succeeds, closes the circuit and frees the backlog.
    endpoint_update(endpoint=endpoint, url=receiver.url("/ok"))
    Endpoint.objects.filter(pk=endpoint.pk).update(circuit_next_probe_at=timezone.now())
    _due_now(held)
    summary = deliver_due()
    endpoint.refresh_from_db()
    assert endpoint.circuit_state == "closed"
    assert endpoint.consecutive_failures == 0
    _due_now(Delivery.objects.filter(endpoint=endpoint).values_list("id", flat=True))
    summary.succeeded += deliver_due().succeeded
    assert summary.succeeded == 7  # 3 from before the circuit opened + 4 held
    assert not Delivery.objects.filter(endpoint=endpoint).exclude(status="succeeded").exists()


def test_rate_limit_is_shared_between_engines(receiver, tenant, invoice_paid):
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok"))
    Endpoint.objects.filter(pk=endpoint.pk).update(rate_limit=3)
    _publish(tenant, 6)

    first = deliver_due(timeout=0.5)
    second = deliver_due(timeout=0.3)  # another worker's engine, within the same second

    assert (first.succeeded, second.succeeded) == (3, 0)
    assert Delivery.objects.filter(status="pending", attempt_count=0).count() == 3
