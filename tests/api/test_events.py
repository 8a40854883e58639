"""Publishing over the API: 202, idempotency, and the inputs it refuses."""

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from deliveries.models import Delivery, Event
from deliveries.services.fanout import event_fan_out
from endpoints.services import event_type_archive

from .support import assert_error

pytestmark = pytest.mark.django_db

BASE = "/api/v1/tenants/acme/events/"


def test_publish_is_202_with_the_event(api_a, invoice_paid):
    response = api_a.post(
        BASE, {"event_type": "invoice.paid", "payload": {"id": "in_1"}}, format="json"
    )

    assert response.status_code == 202
    event = Event.objects.get()
    assert response.json() == {
        "id": event.pk,
        "event_type": "invoice.paid",
        "payload": {"id": "in_1"},
        "idempotency_key": None,
        "only_endpoint_id": None,
        "channels": [],
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "deliver_at": None,
    }


def test_the_same_idempotency_key_returns_the_same_event(api_a, invoice_paid):
    body = {"event_type": "invoice.paid", "payload": {"id": "in_1"}}

    first = api_a.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    second = api_a.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="order-42")

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert first.json()["idempotency_key"] == "order-42"
    assert Event.objects.count() == 1


def test_an_idempotency_key_is_per_tenant(api_a, client_for, key_b, invoice_paid):
    body = {"event_type": "invoice.paid", "payload": {}}

    a = api_a.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    b = client_for(key_b).post(
        "/api/v1/tenants/globex/events/", body, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert a.json()["id"] != b.json()["id"]


def test_an_unknown_event_type_is_400_naming_it(api_a, tenant):
    response = api_a.post(BASE, {"event_type": "nope.never", "payload": {}}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert error["message"] == "unknown event type 'nope.never'"
    assert not Event.objects.exists()


def test_an_archived_event_type_is_400(api_a, invoice_paid):
    event_type_archive(event_type=invoice_paid)

    response = api_a.post(BASE, {"event_type": "invoice.paid", "payload": {}}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert error["message"] == "event type 'invoice.paid' is archived"


def test_a_payload_over_the_limit_is_413(api_a, invoice_paid, settings):
    settings.WEBHOOKS_MAX_PAYLOAD_BYTES = 1024

    response = api_a.post(
        BASE, {"event_type": "invoice.paid", "payload": {"blob": "x" * 2000}}, format="json"
    )

    error = assert_error(response, 413, "payload_too_large")
    assert error["message"].endswith("the limit is 1024 bytes")
    assert not Event.objects.exists()


def test_a_request_body_over_the_upload_limit_is_413(api_a, invoice_paid, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000

    response = api_a.post(
        BASE, {"event_type": "invoice.paid", "payload": {"blob": "x" * 20_000}}, format="json"
    )

    assert_error(response, 413, "payload_too_large")


def test_a_payload_that_breaks_the_schema_is_400(api_a, platform, invoice_paid):
    platform.patch(
        "/api/v1/event-types/invoice.paid/",
        {"schema": {"type": "object", "required": ["id"]}},
        format="json",
    )

    response = api_a.post(BASE, {"event_type": "invoice.paid", "payload": {}}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert "'id' is a required property" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_type": 7, "payload": {}}, "event_type"),
        ({"event_type": "invoice.paid"}, "payload"),
        ({"payload": {}}, "event_type"),
    ],
)
def test_wrong_or_missing_fields_are_named(api_a, invoice_paid, body, field):
    response = api_a.post(BASE, body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == [field]


@pytest.mark.parametrize(
    ("payload", "kind"), [("str", "a string"), ([1], "an array"), (3, "a number"), (None, None)]
)
def test_a_payload_that_is_not_an_object_is_400(api_a, invoice_paid, payload, kind):
    response = api_a.post(BASE, {"event_type": "invoice.paid", "payload": payload}, format="json")

    error = assert_error(response, 400, "validation_error")
    message = "This field may not be null." if kind is None else f"not {kind}"
    assert message in error["fields"]["payload"][0]
    assert Event.objects.count() == 0


def test_a_batch_item_whose_payload_is_not_an_object_is_an_error_of_its_own(api_a, invoice_paid):
    items = [
        {"event_type": "invoice.paid", "payload": "str"},
        {"event_type": "invoice.paid", "payload": {"n": 1}},
    ]
    response = api_a.post(f"{BASE}batch", {"events": items}, format="json")

    assert response.status_code == 202
    bad, good = response.json()["data"]
    assert bad["status"] == "error"
    assert "payload must be a JSON object" in bad["error"]["fields"]["payload"][0]
    assert good["status"] == "created"
    assert Event.objects.count() == 1


def test_the_idempotency_key_may_be_given_in_the_body(api_a, invoice_paid):
    body = {"event_type": "invoice.paid", "payload": {"id": "in_1"}, "idempotency_key": "o-42"}

    first = api_a.post(BASE, body, format="json")
    second = api_a.post(BASE, body, format="json")
    by_header = api_a.post(
        BASE, {**body, "idempotency_key": None}, format="json", HTTP_IDEMPOTENCY_KEY="o-42"
    )
    clash = api_a.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="other")

    assert first.status_code == second.status_code == 202
    assert first.json()["idempotency_key"] == "o-42"
    assert second.json()["id"] == first.json()["id"]
    assert by_header.status_code == 202, by_header.content
    assert by_header.json()["id"] == first.json()["id"]
    error = assert_error(clash, 400, "validation_error")
    assert list(error["fields"]) == ["idempotency_key"]
    assert Event.objects.count() == 1


def test_malformed_json_is_400(api_a, invoice_paid):
    response = api_a.post(BASE, "{not json", content_type="application/json")

    assert_error(response, 400, "parse_error")


def test_list_and_detail_with_deliveries(api_a, endpoint_a, invoice_paid):
    published = api_a.post(
        BASE, {"event_type": "invoice.paid", "payload": {"n": 1}}, format="json"
    ).json()
    event_fan_out(event_id=published["id"])

    listed = api_a.get(BASE).json()
    detail = api_a.get(f"{BASE}{published['id']}/").json()

    assert [e["id"] for e in listed["data"]] == [published["id"]]
    assert detail["payload"] == {"n": 1}
    assert [(d["endpoint_id"], d["status"]) for d in detail["deliveries"]] == [
        (endpoint_a.pk, "pending")
    ]


def test_list_filters_by_event_type(api_a, invoice_paid, user_created):
    api_a.post(BASE, {"event_type": "invoice.paid", "payload": {}}, format="json")
    api_a.post(BASE, {"event_type": "user.created", "payload": {}}, format="json")

    response = api_a.get(BASE, {"event_type": "user.created"})

    assert [e["event_type"] for e in response.json()["data"]] == ["user.created"]


def test_json_nested_too_deeply_is_400(api_a, invoice_paid):
    nested = "[" * 100_000 + "]" * 100_000
    body = '{"event_type": "invoice.paid", "payload": ' + nested + "}"

    response = api_a.post(BASE, body, content_type="application/json")

    error = assert_error(response, 400, "parse_error")
    assert error["message"] == "JSON parse error - the document is nested too deeply."
    assert not Event.objects.exists()


BATCH = "/api/v1/tenants/acme/events/batch"


def test_a_batch_answers_per_item_in_order(api_a, invoice_paid):
    before = api_a.post(
        BASE, {"event_type": "invoice.paid", "payload": {}}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    ).json()
    events = [
        {"event_type": "invoice.paid", "payload": {"n": 1}},
        {"event_type": "invoice.paid", "payload": {"n": 2}, "idempotency_key": "k"},
        {"event_type": "nope", "payload": {}},
        {"event_type": 5, "payload": {}},
        "not an object",
    ]

    response = api_a.post(BATCH, {"events": events}, format="json")

    assert response.status_code == 202
    body = response.json()
    assert (body["created"], body["existing"], body["errors"]) == (1, 1, 3)
    data = body["data"]
    assert [d["index"] for d in data] == [0, 1, 2, 3, 4]
    assert [d["status"] for d in data] == ["created", "existing", "error", "error", "error"]
    created = Event.objects.exclude(pk=before["id"]).get()
    assert data[0]["event"]["id"] == created.pk
    assert data[0]["event"]["payload"] == {"n": 1}
    assert data[1]["event"] == before
    assert data[2]["error"] == {
        "code": "validation_error",
        "message": "unknown event type 'nope'",
        "fields": {},
    }
    assert data[3]["error"]["fields"] == {"event_type": ["Must be a string."]}
    assert data[4]["error"]["code"] == "validation_error"
    assert all(d["event"] is None for d in data[2:])
    assert all(d["error"] is None for d in data[:2])


def test_a_batch_works_with_a_trailing_slash_too(api_a, invoice_paid):
    response = api_a.post(
        BATCH + "/", {"events": [{"event_type": "invoice.paid", "payload": {}}]}, format="json"
    )

    assert response.status_code == 202
    assert response.json()["created"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "events: This field is required."),
        ({"events": []}, "events: Ensure this field has at least 1 elements."),
        ({"events": {"a": 1}}, 'events: Expected a list of items but got type "dict".'),
        (
            {"events": [{"event_type": "invoice.paid", "payload": {}}] * 1001},
            "events: Ensure this field has no more than 1000 elements.",
        ),
    ],
)
def test_a_bad_batch_envelope_is_refused_whole(api_a, invoice_paid, body, message):
    response = api_a.post(BATCH, body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert error["message"] == message
    assert Event.objects.count() == 0


def test_a_tenant_key_cannot_batch_into_another_tenant(client_for, key_b, tenant, invoice_paid):
    response = client_for(key_b).post(
        BATCH, {"events": [{"event_type": "invoice.paid", "payload": {}}]}, format="json"
    )

    assert_error(response, 404, "not_found")
    assert Event.objects.count() == 0


def test_channels_decide_which_endpoints_receive_an_event(platform, tenant, invoice_paid):
    from deliveries.models import Delivery
    from deliveries.services.fanout import event_fan_out

    made = {}
    for name, channels in (("eu", ["eu"]), ("us", ["us"]), ("all", [])):
        response = platform.post(
            "/api/v1/tenants/acme/endpoints/",
            {"url": f"http://127.0.0.1:9/{name}", "channels": channels},
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["channels"] == channels
        made[response.json()["id"]] = name

    response = platform.post(
        "/api/v1/tenants/acme/events/",
        {"event_type": "invoice.paid", "payload": {}, "channels": ["eu"]},
        format="json",
    )
    assert response.status_code == 202
    assert response.json()["channels"] == ["eu"]
    event_fan_out(event_id=response.json()["id"])

    got = Delivery.objects.filter(event_id=response.json()["id"]).values_list(
        "endpoint_id", flat=True
    )
    assert sorted(made[pk] for pk in got) == ["all", "eu"]
    bad = platform.post(
        "/api/v1/tenants/acme/events/",
        {"event_type": "invoice.paid", "payload": {}, "channels": ["not a channel"]},
        format="json",
    )
    assert bad.status_code == 400


def test_deliver_at_schedules_an_event_and_lists_it_as_scheduled(api_a, endpoint_a):
    later = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    text = later.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    scheduled = api_a.post(
        BASE, {"event_type": "invoice.paid", "payload": {}, "deliver_at": text}, format="json"
    )
    at_once = api_a.post(BASE, {"event_type": "invoice.paid", "payload": {}}, format="json")
    too_far = api_a.post(
        BASE,
        {
            "event_type": "invoice.paid",
            "payload": {},
            "deliver_at": (timezone.now() + timedelta(days=31)).isoformat(),
        },
        format="json",
    )
    not_a_time = api_a.post(
        BASE, {"event_type": "invoice.paid", "payload": {}, "deliver_at": "soon"}, format="json"
    )
    batch = api_a.post(
        BATCH,
        {"events": [{"event_type": "invoice.paid", "payload": {}, "deliver_at": text}]},
        format="json",
    )

    assert scheduled.status_code == 202, scheduled.content
    assert scheduled.json()["deliver_at"] == text
    event_fan_out(event_id=scheduled.json()["id"])
    assert Delivery.objects.get(event_id=scheduled.json()["id"]).next_attempt_at == later
    assert "at most 30 days ahead" in assert_error(too_far, 400, "validation_error")["message"]
    assert "deliver_at" in assert_error(not_a_time, 400, "validation_error")["fields"]
    assert batch.json()["data"][0]["event"]["deliver_at"] == text
    listed = api_a.get(BASE, {"scheduled": "true"}).json()["data"]
    assert {e["id"] for e in listed} == {
        scheduled.json()["id"],
        batch.json()["data"][0]["event"]["id"],
    }
    others = api_a.get(BASE, {"scheduled": "false"}).json()["data"]
    assert [e["id"] for e in others] == [at_once.json()["id"]]


@pytest.mark.parametrize(
    "text", ["2026-12-24T18:00:00", "2026-12-24", "2026-W52-4", "2026-W52-4T18:00:00+00:00"]
)
def test_a_deliver_at_without_a_date_time_and_offset_is_refused(api_a, platform, endpoint_a, text):
    native = api_a.post(
        BASE, {"event_type": "invoice.paid", "payload": {}, "deliver_at": text}, format="json"
    )
    svix = platform.post(
        "/api/v1/app/acme/msg",
        {"eventType": "invoice.paid", "payload": {}, "deliverAt": text},
        format="json",
    )

    error = assert_error(native, 400, "validation_error")
    assert "offset" in error["fields"]["deliver_at"][0]
    assert svix.status_code == 422
    assert svix.json()["detail"][0]["loc"] == ["body", "deliverAt"]
    assert not Event.objects.exists()


def test_a_null_batch_item_is_an_error_of_its_own(api_a, invoice_paid):
    events = [
        {"event_type": "invoice.paid", "payload": {"n": 1}},
        None,
        {"event_type": "invoice.paid", "payload": {"n": 2}},
    ]

    response = api_a.post(BATCH, {"events": events}, format="json")

    assert response.status_code == 202
    body = response.json()
    assert (body["created"], body["existing"], body["errors"]) == (2, 0, 1)
    assert [d["status"] for d in body["data"]] == ["created", "error", "created"]
    assert body["data"][1] == {
        "index": 1,
        "status": "error",
        "event": None,
        "error": {
            "code": "validation_error",
            "message": "Each event must be a JSON object; this one is null.",
            "fields": {},
        },
    }
    assert Event.objects.count() == 2


def test_an_unknown_field_of_a_batch_item_is_that_items_error(api_a, invoice_paid):
    events = [
        {"event_type": "invoice.paid", "payload": {}, "eventType": "x"},
        {"event_type": "invoice.paid", "payload": {}},
    ]

    response = api_a.post(BATCH, {"events": events}, format="json")

    assert response.status_code == 202
    bad, good = response.json()["data"]
    assert bad["status"] == "error"
    assert bad["error"]["fields"] == {"eventType": ["Unknown field; see the API reference."]}
    assert good["status"] == "created"
    assert Event.objects.count() == 1
