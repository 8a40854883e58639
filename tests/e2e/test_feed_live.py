"""Pull delivery over real HTTP: a live server, a real worker, consumers reading concurrently
with publishing, long polls, and a push endpoint beside the poll one."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from deliveries import publish_event
from deliveries.models import Delivery
from endpoints.services import api_key_create, endpoint_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def api(live_server, tenant):  # type: ignore[no-untyped-def]
    _, key = api_key_create(name="consumer", tenant=tenant)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    base = f"{live_server.url}/api/v1/tenants/{tenant.slug}/pollers/"
    return session, base


def _consume(session, url: str, want: int, got: list[str], errors: list[str]) -> None:  # type: ignore[no-untyped-def]
    iterator = ""
    deadline = time.monotonic() + 60
    try:
        while len(got) < want and time.monotonic() < deadline:
            params = {"limit": 7, "wait": 2}
            if iterator:
                params["iterator"] = iterator
            page = session.get(url, params=params, timeout=10).json()
            got.extend(item["id"] for item in page["data"])
            iterator = page["next_cursor"]
    except Exception as exc:  # noqa: BLE001  reported by the test
        errors.append(repr(exc))


def test_two_consumers_each_read_every_event_once_in_order_while_events_are_published(
    worker, api, tenant, invoice_paid, receiver
):
    session, base = api
    poll, _ = endpoint_create(tenant=tenant, kind="poll")
    endpoint_create(tenant=tenant, url=receiver.url("/push"))
    n = 40
    results: dict[str, list[str]] = {"billing": [], "audit": []}
    errors: list[str] = []
    readers = [
        threading.Thread(
            target=_consume,
            args=(session, f"{base}{poll.pk}/consumers/{name}/", n, got, errors),
        )
        for name, got in results.items()
    ]
    for reader in readers:
        reader.start()
    published = []
    for i in range(n):
        published.append(publish_event(tenant, "invoice.paid", {"n": i}).pk)
        time.sleep(0.02)
    for reader in readers:
        reader.join(timeout=90)

    assert errors == []
    assert results["billing"] == published
    assert results["audit"] == published
    # The push endpoint beside it got every one as well.
    assert len(receiver.wait_for(n, "/push")) == n
    assert Delivery.objects.filter(endpoint__kind="push").count() == n


def test_a_consumer_that_crashes_mid_page_resumes_from_its_stored_cursor(
    worker, api, tenant, invoice_paid
):
    session, base = api
    poll, _ = endpoint_create(tenant=tenant, kind="poll")
    published = [publish_event(tenant, "invoice.paid", {"n": i}).pk for i in range(6)]
    url = f"{base}{poll.pk}/consumers/worker-1/"
    first = session.get(url, params={"limit": 4, "wait": 10}, timeout=15).json()
    while len(first["data"]) < 4:  # the fan-out may still be on its way
        time.sleep(0.1)
        first = session.get(url, params={"limit": 4}, timeout=15).json()
    # It processed two of the four, then died; a new process starts without the iterator.
    restarted = session.get(url, params={"limit": 4}, timeout=15).json()
    done = session.get(
        url, params={"limit": 4, "iterator": restarted["next_cursor"]}, timeout=15
    ).json()

    assert [i["id"] for i in first["data"]] == published[:4]
    assert [i["id"] for i in restarted["data"]] == published[:4]  # nothing lost
    assert [i["id"] for i in done["data"]] == published[4:]


def test_a_long_poll_answers_within_a_second_of_a_publish(worker, api, tenant, invoice_paid):
    session, base = api
    poll, _ = endpoint_create(tenant=tenant, kind="poll")
    url = f"{base}{poll.pk}/"
    box: dict[str, float] = {}

    def publish_later() -> None:
        time.sleep(1.0)
        box["published"] = time.monotonic()
        publish_event(tenant, "invoice.paid", {"late": True})

    threading.Thread(target=publish_later).start()
    page = session.get(url, params={"wait": 20}, timeout=30).json()
    answered = time.monotonic()

    assert [i["payload"]["data"] for i in page["data"]] == [{"late": True}]
    assert answered - box["published"] < 1.0
