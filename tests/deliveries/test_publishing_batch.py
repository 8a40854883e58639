"""Bulk publish: ``publish_events`` stores a batch with one INSERT and answers per item."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deliveries import PublishError, publish_event, publish_events
from deliveries.models import Delivery, Event
from deliveries.services.fanout import events_fan_out_pending
from deliveries.services.publishing_batch import MAX_BATCH
from endpoints.services import endpoint_create, event_type_archive, event_type_create

pytestmark = pytest.mark.django_db


def test_a_batch_is_stored_in_order_with_exact_bodies(tenant, invoice_paid, user_created):
    results = publish_events(
        tenant,
        [
            {"event_type": "invoice.paid", "payload": {"n": 0}},
            {"event_type": "user.created", "payload": {"n": 1}},
            {"event_type": "invoice.paid", "payload": {"n": 2}},
        ],
    )

    assert [r.status for r in results] == ["created"] * 3
    stored = {e.pk: e for e in Event.objects.all()}
    assert [json.loads(stored[r.event.pk].body)["data"] for r in results] == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
    ]
    assert [stored[r.event.pk].event_type.name for r in results] == [
        "invoice.paid",
        "user.created",
        "invoice.paid",
    ]


def test_a_batch_is_one_lookup_and_one_insert(tenant, invoice_paid):
    items = [{"event_type": "invoice.paid", "payload": {"n": i}} for i in range(500)]

    with CaptureQueriesContext(connection) as queries:
        results = publish_events(tenant, items)

    # the event types, then the INSERT (SQLite's bound-parameter limit splits it in chunks)
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements[0] == "SELECT"
    assert set(statements[1:]) == {"INSERT"}
    if connection.vendor == "postgresql":
        assert len(statements) == 2
    assert Event.objects.count() == 500
    assert {r.status for r in results} == {"created"}


def test_bad_items_get_the_single_publish_error_and_do_not_stop_the_others(
    tenant, invoice_paid, settings
):
    settings.WEBHOOKS_MAX_PAYLOAD_BYTES = 200
    archived = event_type_create(name="old.thing")
    event_type_archive(event_type=archived)

    results = publish_events(
        tenant,
        [
            {"event_type": "invoice.paid", "payload": {"ok": 1}},
            {"event_type": "no.such.type", "payload": {}},
            {"event_type": "old.thing", "payload": {}},
            {"event_type": "invoice.paid", "payload": {"big": "x" * 300}},
            {"event_type": "invoice.paid", "payload": {"bad": float("nan")}},
            {"event_type": "invoice.paid"},
            {"payload": {}},
            {"event_type": "invoice.paid", "payload": {}, "idempotency_key": " "},
            {"event_type": "invoice.paid", "payload": {"ok": 2}},
        ],
    )

    assert [(r.status, r.code) for r in results] == [
        ("created", ""),
        ("error", "validation_error"),
        ("error", "validation_error"),
        ("error", "payload_too_large"),
        ("error", "validation_error"),
        ("error", "validation_error"),
        ("error", "validation_error"),
        ("error", "validation_error"),
        ("created", ""),
    ]
    assert results[1].error == "unknown event type 'no.such.type'"
    assert results[2].error == "event type 'old.thing' is archived"
    assert results[3].error.startswith("payload is ")
    assert results[3].error.endswith("the limit is 200 bytes")
    assert results[4].error.startswith("payload is not JSON-serialisable")
    assert results[5].error == "payload is required"
    assert results[6].error == "event_type is required"
    assert results[7].error == "idempotency_key must be a non-empty string"
    assert Event.objects.count() == 2


def test_schema_errors_match_a_single_publish(tenant):
    event_type_create(
        name="order.placed",
        schema={"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
    )
    with pytest.raises(PublishError) as single:
        publish_event(tenant, "order.placed", {"id": 5})

    [result] = publish_events(tenant, [{"event_type": "order.placed", "payload": {"id": 5}}])

    assert result.status == "error"
    assert result.error == str(single.value)


def test_idempotency_keys_repeat_across_and_within_batches(tenant, invoice_paid):
    before = publish_event(tenant, "invoice.paid", {"n": "before"}, idempotency_key="k-old")

    results = publish_events(
        tenant,
        [
            {"event_type": "invoice.paid", "payload": {"n": 1}, "idempotency_key": "k-old"},
            {"event_type": "invoice.paid", "payload": {"n": 2}, "idempotency_key": "k-new"},
            {"event_type": "invoice.paid", "payload": {"n": 3}, "idempotency_key": "k-new"},
        ],
    )

    assert [r.status for r in results] == ["existing", "created", "existing"]
    assert results[0].event.pk == before.pk
    assert results[2].event.pk == results[1].event.pk
    assert Event.objects.count() == 2
    assert json.loads(Event.objects.get(idempotency_key="k-new").body)["data"] == {"n": 2}


def test_a_key_taken_by_a_concurrent_publisher_reports_the_stored_event(
    tenant, invoice_paid, monkeypatch
):
    # given another caller that stores key "race" between our lookup and our INSERT
    from deliveries.services import publishing_batch

    real_build = publishing_batch._event_build
    winner: list[Event] = []
    raced: list[bool] = []

    def build_then_race(**kwargs):  # type: ignore[no-untyped-def]
        event = real_build(**kwargs)
        if kwargs["idempotency_key"] == "race" and not raced:
            raced.append(True)
            winner.append(
                publish_event(tenant, "invoice.paid", {"n": "first"}, idempotency_key="race")
            )
        return event

    monkeypatch.setattr(publishing_batch, "_event_build", build_then_race)

    # when the batch is stored
    results = publish_events(
        tenant,
        [
            {"event_type": "invoice.paid", "payload": {"n": "ours"}, "idempotency_key": "race"},
            {"event_type": "invoice.paid", "payload": {"n": "plain"}},
        ],
    )

    # then the item reports the event that was stored first, and the rest went in
    assert [r.status for r in results] == ["existing", "created"]
    assert results[0].event.pk == winner[0].pk
    assert Event.objects.filter(idempotency_key="race").count() == 1
    assert Event.objects.count() == 2


def test_a_batch_over_the_limit_is_refused_whole(tenant, invoice_paid):
    items = [{"event_type": "invoice.paid", "payload": {}}] * (MAX_BATCH + 1)

    with pytest.raises(PublishError, match="at most 1000 events; this one has 1001"):
        publish_events(tenant, items)

    assert Event.objects.count() == 0


def test_a_batch_fans_out_with_one_message(
    tenant, invoice_paid, django_capture_on_commit_callbacks
):
    endpoint_create(tenant=tenant, url="http://127.0.0.1:9/a")
    endpoint_create(tenant=tenant, url="http://127.0.0.1:9/b")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        publish_events(
            tenant, [{"event_type": "invoice.paid", "payload": {"n": i}} for i in range(5)]
        )

    assert len(callbacks) == 1
    assert events_fan_out_pending(tenant_id=tenant.pk) == 5
    assert Delivery.objects.count() == 10
