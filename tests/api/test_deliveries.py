"""The delivery log, replay, test events, recovery jobs and stats, against a real receiver."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deliveries.models import Attempt, Delivery, Job
from deliveries.services.fanout import event_fan_out
from deliveries.services.jobs import job_run
from endpoints.models import AuditEntry
from endpoints.services import endpoint_create
from tests.engine import deliver_due

from .support import assert_error

pytestmark = pytest.mark.django_db

BASE = "/api/v1/tenants/acme/"


@pytest.fixture
def receiving(tenant, invoice_paid, receiver):
    """An endpoint of acme on the test receiver."""
    return endpoint_create(tenant=tenant, url=receiver.url("/ok"))[0]


@pytest.fixture
def failing(tenant, invoice_paid, receiver, settings):
    """An endpoint answering 500, with no retries left after the first try."""
    settings.WEBHOOKS_RETRY_SCHEDULE = []
    return endpoint_create(tenant=tenant, url=receiver.url("/status/500"))[0]


def _publish_and_send(api, payload=None):  # type: ignore[no-untyped-def]
    event = api.post(
        f"{BASE}events/",
        {"event_type": "invoice.paid", "payload": payload or {"id": "in_1"}},
        format="json",
    ).json()
    event_fan_out(event_id=event["id"])
    deliver_due()
    return event


def test_a_published_event_is_delivered_and_logged(api_a, receiving, receiver):
    event = _publish_and_send(api_a)

    (request,) = receiver.wait_for(1)
    listed = api_a.get(f"{BASE}deliveries/").json()["data"]
    detail = api_a.get(f"{BASE}deliveries/{listed[0]['id']}/").json()

    assert request.headers["webhook-id"] == event["id"]
    assert [(d["event_id"], d["status"]) for d in listed] == [(event["id"], "succeeded")]
    (attempt,) = detail["attempts"]
    assert attempt["number"] == 1
    assert attempt["trigger"] == "scheduled"
    assert attempt["response_status"] == 200
    assert attempt["response_body"] == "ok"
    assert attempt["request_headers"]["webhook-id"] == event["id"]


def test_replay_sends_a_manual_attempt_and_is_audited(api_a, receiving, receiver):
    _publish_and_send(api_a)
    delivery = Delivery.objects.get()

    response = api_a.post(f"{BASE}deliveries/{delivery.pk}/replay/")
    deliver_due()

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert len(receiver.wait_for(2)) == 2
    attempts = api_a.get(f"{BASE}deliveries/{delivery.pk}/").json()["attempts"]
    assert [(a["number"], a["trigger"]) for a in attempts] == [(1, "scheduled"), (2, "manual")]
    assert AuditEntry.objects.get().action == "delivery.replay"


def test_replay_to_a_disabled_endpoint_is_400(api_a, receiving, receiver):
    _publish_and_send(api_a)
    delivery = Delivery.objects.get()
    api_a.patch(f"{BASE}endpoints/{receiving.pk}/", {"enabled": False}, format="json")

    response = api_a.post(f"{BASE}deliveries/{delivery.pk}/replay/")

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {
        "delivery": ["The endpoint is disabled; enable it before replaying."]
    }


def test_deliveries_filter_by_status_endpoint_and_type(api_a, receiving, failing, user_created):
    _publish_and_send(api_a)

    failed = api_a.get(f"{BASE}deliveries/", {"status": "failed"}).json()["data"]
    to_ok = api_a.get(f"{BASE}deliveries/", {"endpoint": receiving.pk}).json()["data"]
    other_type = api_a.get(f"{BASE}deliveries/", {"event_type": "user.created"}).json()["data"]

    assert [d["endpoint_id"] for d in failed] == [failing.pk]
    assert [d["status"] for d in to_ok] == ["succeeded"]
    assert other_type == []


def test_deliveries_filter_by_time_window(api_a, receiving):
    _publish_and_send(api_a)
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    past = (timezone.now() - timedelta(hours=1)).isoformat()

    assert api_a.get(f"{BASE}deliveries/", {"since": future}).json()["data"] == []
    assert len(api_a.get(f"{BASE}deliveries/", {"since": past}).json()["data"]) == 1
    assert api_a.get(f"{BASE}deliveries/", {"until": past}).json()["data"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
    ],
)
def test_bad_delivery_filters_are_400(api_a, tenant, params, field):
    response = api_a.get(f"{BASE}deliveries/", params)

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == [field]


def test_a_test_event_goes_to_that_endpoint_only(api_a, receiving, tenant, receiver):
    endpoint_create(tenant=tenant, url=receiver.url("/ok/other"))

    response = api_a.post(
        f"{BASE}endpoints/{receiving.pk}/test/", {"event_type": "invoice.paid"}, format="json"
    )
    event_fan_out(event_id=response.json()["id"])

    assert response.status_code == 202
    assert response.json()["only_endpoint_id"] == receiving.pk
    assert response.json()["payload"] == {"test": True}
    assert list(Delivery.objects.values_list("endpoint_id", flat=True)) == [receiving.pk]


def test_a_test_event_of_an_unknown_type_is_400(api_a, receiving):
    response = api_a.post(
        f"{BASE}endpoints/{receiving.pk}/test/", {"event_type": "nope.never"}, format="json"
    )

    assert_error(response, 400, "validation_error")


def test_recover_resends_failures_as_a_job(api_a, failing, receiver):
    since = timezone.now() - timedelta(minutes=1)
    _publish_and_send(api_a)
    assert Delivery.objects.get().status == "failed"

    response = api_a.post(
        f"{BASE}endpoints/{failing.pk}/recover/", {"since": since.isoformat()}, format="json"
    )
    job_id = response.json()["id"]
    job_run(job_id=job_id)
    job = api_a.get(f"{BASE}jobs/{job_id}/").json()

    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert (job["kind"], job["status"], job["total"], job["done"]) == ("recover", "succeeded", 1, 1)
    assert Delivery.objects.get().status == "pending"
    assert Job.objects.get().endpoint_id == failing.pk
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.details["job_id"]) == ("endpoint.recover", job_id)


def test_recover_needs_since(api_a, failing):
    response = api_a.post(f"{BASE}endpoints/{failing.pk}/recover/", {}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["since"]


def test_stats_count_deliveries_and_attempts(api_a, failing, receiver):
    _publish_and_send(api_a)

    response = api_a.get(f"{BASE}endpoints/{failing.pk}/stats/")

    assert response.status_code == 200
    assert response.json() == {
        "deliveries": {
            "held": 0,
            "pending": 0,
            "sending": 0,
            "succeeded": 0,
            "failed": 1,
            "cancelled": 0,
        },
        "attempts": {"succeeded": 0, "failed_http": 1, "no_response": 0, "total": 1},
    }
    assert Attempt.objects.count() == 1


def test_an_unknown_delivery_id_is_404(api_a, tenant):
    assert_error(api_a.get(f"{BASE}deliveries/not-a-number/"), 404, "not_found")
    assert_error(api_a.get(f"{BASE}deliveries/999999/"), 404, "not_found")


def test_a_delivery_detail_holds_the_newest_attempts_and_pages_the_rest(
    api_a, endpoint_a, delivered
):
    from django.utils import timezone

    from deliveries.models import Attempt

    delivery = delivered(endpoint_a)
    for number in range(1, 26):
        Attempt.objects.create(
            delivery=delivery,
            endpoint=endpoint_a,
            number=number,
            trigger="scheduled",
            started_at=timezone.now(),
            request_url=endpoint_a.url,
            response_status=500,
        )
    base = f"/api/v1/tenants/acme/deliveries/{delivery.pk}/"

    detail = api_a.get(base).json()
    assert [a["number"] for a in detail["attempts"]] == list(range(6, 26))
    assert detail["attempts_more"] is True

    first = api_a.get(base + "attempts/?limit=10").json()
    second = api_a.get(base + f"attempts/?limit=20&cursor={first['next_cursor']}").json()
    numbers = [a["number"] for a in first["data"] + second["data"]]
    assert numbers == list(range(25, 0, -1))
    assert second["next_cursor"] is None


def test_a_delivery_can_be_replayed_by_hand_only_so_often(api_a, endpoint_a, delivered):
    from django.utils import timezone

    from deliveries.models import Attempt
    from deliveries.services.lifecycle import MAX_MANUAL_PER_HOUR

    delivery = delivered(endpoint_a)
    for number in range(1, MAX_MANUAL_PER_HOUR + 1):
        Attempt.objects.create(
            delivery=delivery,
            endpoint=endpoint_a,
            number=number,
            trigger="manual",
            started_at=timezone.now(),
            request_url=endpoint_a.url,
            response_status=500,
        )

    response = api_a.post(f"/api/v1/tenants/acme/deliveries/{delivery.pk}/replay/")

    error = assert_error(response, 400, "validation_error")
    assert "the most allowed" in error["message"]
    Attempt.objects.filter(delivery=delivery).update(started_at=timezone.now() - timedelta(hours=2))
    assert api_a.post(f"/api/v1/tenants/acme/deliveries/{delivery.pk}/replay/").status_code == 202


def test_an_unknown_query_parameter_of_a_list_is_refused(api_a, tenant):
    response = api_a.get(f"{BASE}deliveries/", {"event": "evt_1"})

    error = assert_error(response, 400, "validation_error")
    accepted = "cursor, endpoint, event_type, limit, since, status, until"
    assert error["fields"] == {"event": [f"Unknown query parameter; this list takes {accepted}."]}


def test_a_list_still_takes_its_filters_and_pagination(api_a, tenant):
    response = api_a.get(f"{BASE}deliveries/", {"status": "failed", "limit": 5, "cursor": ""})

    assert response.status_code == 200
    assert response.json() == {"data": [], "next_cursor": None}
