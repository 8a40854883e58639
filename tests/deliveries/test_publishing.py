import json
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import transaction

from deliveries import PublishError, publish_event
from deliveries.models import Delivery, Event
from deliveries.services.endpoint_lifecycle import endpoint_disable
from deliveries.services.fanout import event_fan_out
from endpoints.services import endpoint_create, event_type_archive, event_type_create

pytestmark = pytest.mark.django_db


def test_publish_stores_the_exact_body_once(tenant, invoice_paid):
    event = publish_event(tenant, "invoice.paid", {"invoice_id": "in_1", "amount": 42})

    stored = Event.objects.get(pk=event.pk)
    body = json.loads(stored.body)
    assert event.pk.startswith("msg_")
    assert body["type"] == "invoice.paid"
    assert body["data"] == {"invoice_id": "in_1", "amount": 42}
    assert body["timestamp"].endswith("Z")
    assert stored.payload == {"invoice_id": "in_1", "amount": 42}


def test_publish_accepts_a_tenant_slug_and_event_type_object(tenant, invoice_paid):
    event = publish_event("acme", invoice_paid, {"ok": True})
    assert event.tenant_id == tenant.pk


def test_publish_costs_the_same_with_many_subscribers(
    tenant, invoice_paid, django_assert_max_num_queries
):
    for i in range(30):
        endpoint_create(tenant=tenant, url=f"http://127.0.0.1:9/{i}")

    with django_assert_max_num_queries(6):
        publish_event(tenant, "invoice.paid", {"n": 1})

    assert Delivery.objects.count() == 0  # fan-out happens in a worker


def test_same_idempotency_key_returns_the_first_event(tenant, invoice_paid):
    first = publish_event(tenant, "invoice.paid", {"n": 1}, idempotency_key="k-1")
    again = publish_event(tenant, "invoice.paid", {"n": 2}, idempotency_key="k-1")

    assert again.pk == first.pk
    assert Event.objects.count() == 1


def test_idempotency_keys_are_per_tenant(tenant, other_tenant, invoice_paid):
    a = publish_event(tenant, "invoice.paid", {}, idempotency_key="same")
    b = publish_event(other_tenant, "invoice.paid", {}, idempotency_key="same")
    assert a.pk != b.pk


@pytest.mark.django_db(transaction=True)
def test_rollback_publishes_nothing(tenant, invoice_paid, django_capture_on_commit_callbacks):
    def caller_that_fails_after_publishing():
        with transaction.atomic():
            publish_event(tenant, "invoice.paid", {"n": 1})
            raise RuntimeError("caller failed")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        caller_that_fails_after_publishing()

    assert Event.objects.count() == 0
    assert callbacks == []


def test_fan_out_is_enqueued_only_on_commit(
    tenant, invoice_paid, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        publish_event(tenant, "invoice.paid", {"n": 1})
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    ("event_type", "payload", "message"),
    [
        ("nope.never", {}, "unknown event type 'nope.never'"),
        ("invoice.paid", {"when": object()}, "payload is not JSON-serialisable"),
        ("invoice.paid", {"amount": Decimal("1.5")}, "payload is not JSON-serialisable"),
        ("invoice.paid", {"x": float("nan")}, "payload is not JSON-serialisable"),
        ("invoice.paid", "str", r"payload must be a JSON object \(\{...\}\), not a string"),
        ("invoice.paid", [1, 2], "payload must be a JSON object .*, not an array"),
        ("invoice.paid", 7, "payload must be a JSON object .*, not a number"),
        ("invoice.paid", True, "payload must be a JSON object .*, not a boolean"),
        ("invoice.paid", None, "payload must be a JSON object .*, not null"),
    ],
)
def test_bad_input_raises_publish_error(tenant, invoice_paid, event_type, payload, message):
    with pytest.raises(PublishError, match=message):
        publish_event(tenant, event_type, payload)
    assert Event.objects.count() == 0


def test_archived_type_is_refused(tenant, invoice_paid):
    event_type_archive(event_type=invoice_paid)
    with pytest.raises(PublishError, match="event type 'invoice.paid' is archived"):
        publish_event(tenant, "invoice.paid", {})


def test_oversized_payload_is_refused(tenant, invoice_paid, settings):
    settings.WEBHOOKS_MAX_PAYLOAD_BYTES = 1000
    with pytest.raises(PublishError, match=r"payload is \d+ bytes once encoded; the limit is 1000"):
        publish_event(tenant, "invoice.paid", {"blob": "x" * 1000})


def test_schema_mismatch_names_the_field(tenant):
    event_type_create(
        name="user.created",
        schema={
            "type": "object",
            "properties": {"email": {"type": "string"}},
            "required": ["email"],
        },
    )
    with pytest.raises(PublishError, match=r"at email: 5 is not of type 'string'"):
        publish_event(tenant, "user.created", {"email": 5})
    with pytest.raises(PublishError, match=r"at \(root\): 'email' is a required property"):
        publish_event(tenant, "user.created", {})
    assert publish_event(tenant, "user.created", {"email": "a@b.c"}).pk


def test_unknown_tenant_and_bad_idempotency_key(tenant, invoice_paid):
    with pytest.raises(PublishError, match="unknown tenant 'ghost'"):
        publish_event("ghost", "invoice.paid", {})
    with pytest.raises(PublishError, match="longer than 255"):
        publish_event(tenant, "invoice.paid", {}, idempotency_key="k" * 256)


def test_fan_out_follows_subscriptions(tenant, other_tenant, invoice_paid, user_created):
    to_invoices, _ = endpoint_create(
        tenant=tenant, url="http://127.0.0.1:9/a", event_types=["invoice.paid"]
    )
    to_users, _ = endpoint_create(
        tenant=tenant, url="http://127.0.0.1:9/b", event_types=["user.created"]
    )
    to_all, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/c")
    disabled, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/d")
    endpoint_disable(endpoint=disabled, reason="test")
    endpoint_create(tenant=other_tenant, url="http://127.0.0.1:9/e")
    event = publish_event(tenant, "invoice.paid", {})

    created = event_fan_out(event_id=event.pk)
    again = event_fan_out(event_id=event.pk)

    receivers = set(Delivery.objects.filter(event=event).values_list("endpoint_id", flat=True))
    assert receivers == {to_invoices.pk, to_all.pk}
    assert (created, again) == (2, 2)
    assert Delivery.objects.count() == 2
    assert not to_users.deliveries.exists()


ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the one-statement publish is PostgreSQL's")
def test_a_publish_of_a_type_seen_before_is_one_statement(
    tenant, invoice_paid, django_assert_num_queries
):
    publish_event(tenant, "invoice.paid", {"n": 1})  # reads the type

    with django_assert_num_queries(1):
        event = publish_event(tenant, "invoice.paid", {"n": 2})

    stored = Event.objects.get(pk=event.pk)
    assert (stored.event_type_id, stored.payload) == (invoice_paid.pk, {"n": 2})


def test_a_type_changed_elsewhere_is_checked_as_it_is_now(tenant, invoice_paid):
    """Another process changes the type (a queryset update: nothing in this process hears of
    it); the next publish here still answers to the type as it is."""
    from endpoints.models import EventType

    publish_event(tenant, "invoice.paid", {"amount": 1})
    EventType.objects.filter(pk=invoice_paid.pk).update(
        schema={"type": "object", "required": ["amount"]}
    )
    with pytest.raises(PublishError, match="does not match the schema"):
        publish_event(tenant, "invoice.paid", {"other": 1})
    assert publish_event(tenant, "invoice.paid", {"amount": 2}).payload == {"amount": 2}

    EventType.objects.filter(pk=invoice_paid.pk).update(archived=True)
    with pytest.raises(PublishError, match="is archived"):
        publish_event(tenant, "invoice.paid", {"amount": 3})
    assert Event.objects.count() == 2
