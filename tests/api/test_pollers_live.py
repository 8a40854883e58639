"""Long polls against gunicorn as docker-compose runs it (gthread, a fixed number of threads): one
key holding more waiting polls than the cap does not take the web server's threads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pytest
import requests

from deliveries import publish_event
from deliveries.services.fanout import events_fan_out_pending
from endpoints.services import api_key_create, endpoint_create
from tests.workers import gunicorn_server

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 4
CAP = 2  # polls that may wait in the process, half its threads
POLLS = 6  # waiting polls of one key: more than the threads


@pytest.fixture
def web(tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    env = {"WEBHOOKS_POLL_WAITS_PER_PROCESS": str(CAP), "WEBHOOKS_POLL_WAITS_PER_KEY": "4"}
    with gunicorn_server(tmp_path / "gunicorn.log", threads=THREADS, env=env) as port:
        yield f"http://127.0.0.1:{port}"


def _get(url: str, key: str, params: dict | None = None) -> requests.Response:
    return requests.get(url, params=params, headers={"Authorization": f"Bearer {key}"}, timeout=40)


@pytest.mark.parametrize("route", ["cursor", "consumer"])
def test_polls_over_the_cap_answer_at_once_and_the_server_keeps_answering(
    web, route, tenant, other_tenant, invoice_paid
):
    key = api_key_create(tenant=tenant, name="poller")[1]
    other_key = api_key_create(tenant=other_tenant, name="globex")[1]
    platform_key = api_key_create(name="product")[1]
    poll, _ = endpoint_create(tenant=tenant, kind="poll")
    base = f"{web}/api/v1/tenants/acme/pollers/{poll.pk}/"
    url = base if route == "cursor" else f"{base}consumers/billing/"
    start = _get(url, key).json()["next_cursor"]
    params = {"wait": 25} if route == "consumer" else {"wait": 25, "cursor": start}
    answers: queue.Queue[requests.Response] = queue.Queue()
    for _ in range(POLLS):
        threading.Thread(target=lambda: answers.put(_get(url, key, params)), daemon=True).start()

    # Those over the cap answer at once (get would time out if they held a thread each).
    shortened = [answers.get(timeout=20) for _ in range(POLLS - CAP)]
    # While the others wait: /healthz, another tenant's API, the Svix poller route.
    health = requests.get(f"{web}/healthz", timeout=10)
    other = _get(f"{web}/api/v1/tenants/globex/endpoints/", other_key)
    svix = _get(f"{web}/api/v1/app/acme/poller/{poll.pk}", platform_key)
    event = publish_event(tenant, "invoice.paid", {"n": 1})
    events_fan_out_pending(tenant_id=tenant.pk)
    waited = [answers.get(timeout=30) for _ in range(CAP)]
    later = _get(url, key, {"cursor": start} if route == "cursor" else None)

    assert health.status_code == 200
    assert other.status_code == 200
    assert svix.status_code == 200
    for answer in shortened:
        assert answer.status_code == 200
        assert answer.headers["Retry-After"] == "1"
        assert answer.json()["data"] == []
        assert answer.json()["next_cursor"] == start
    for answer in waited:
        assert answer.status_code == 200
        assert "Retry-After" not in answer.headers
        assert [item["id"] for item in answer.json()["data"]] == [event.pk]
    # Nothing was lost: the shortened polls' cursor reads the event.
    assert [item["id"] for item in later.json()["data"]] == [event.pk]
