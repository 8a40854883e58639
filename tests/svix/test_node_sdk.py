"""The official ``svix`` npm SDK as the client: node runs tests/node/flows.mjs against a live
server and a real worker; this side checks what the receiver got and what the database holds."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections import Counter

import pytest
from svix.webhooks import Webhook, WebhookVerificationError

from deliveries.models import Event
from endpoints.models import Endpoint, Tenant
from endpoints.services import headers_open
from tests.nodejs import NODE_DIR, node_ready

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FLOWS = NODE_DIR / "flows.mjs"
NODE_TIMEOUT = 90
OTHER_SECRET = "whsec_" + base64.b64encode(b"x" * 32).decode()  # not the endpoint's


@pytest.fixture(scope="session")
def node() -> str:
    return node_ready()


def _run_flows(node: str, server_url: str, token: str, receiver_url: str) -> dict:
    env = {
        **os.environ,
        "SVIX_SERVER_URL": server_url,
        "SVIX_TOKEN": token,
        "RECEIVER_URL": receiver_url,
    }
    try:
        done = subprocess.run(
            [node, str(FLOWS)],
            cwd=NODE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"node {FLOWS.name} ran over {NODE_TIMEOUT} s\n"
            f"--- stdout\n{exc.stdout}\n--- stderr\n{exc.stderr}",
            pytrace=False,
        )
    output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    print(output)  # shown with -rP, or beside any later failure
    assert done.returncode == 0, f"node {FLOWS.name} exited {done.returncode}\n{output}"
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"node {FLOWS.name} printed no single JSON object\n{output}", pytrace=False)


def test_node_sdk_main_flows(node, server_url, platform_token, receiver, worker):
    out = _run_flows(node, server_url, platform_token, receiver.url("/ok"))
    messages = out["messages"]
    by_id = {m["id"]: m for m in messages.values()}

    # The receiver: m1 twice (sent, then resent), m2 once; m3 (another event type) and m4
    # (another channel) never. flows.mjs saw every attempt succeed, so all have arrived.
    expected = out["delivered"]
    receiver.wait_for(sum(expected.values()), "/ok", timeout=15)
    time.sleep(1)  # anything extra would arrive now
    got = receiver.received("/ok")
    counts = Counter(request.headers.get("svix-id") for request in got)
    assert counts == expected, [(r.headers, r.body) for r in got]

    for request in got:
        message = by_id[request.headers["svix-id"]]
        # The Svix message format: the body is the payload as published, byte for byte.
        assert request.body == message["body"].encode("utf-8"), (request.body, message["body"])
        assert json.loads(request.body) == message["payload"]
        assert request.headers["content-type"].startswith("application/json")
        assert {"svix-id", "svix-timestamp", "svix-signature"} <= request.headers.keys()
        # Signed with the current secret, and with the custom one during its rotation grace
        # (verify raises WebhookVerificationError on a mismatch); not with any other.
        for secret in (out["secrets"]["current"], out["secrets"]["custom"]):
            Webhook(secret).verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(OTHER_SECRET).verify(request.body, request.headers)
        # The endpoint's headers, sensitive ones included, go with every request.
        for name, value in out["headers"].items():
            assert request.headers.get(name.lower()) == value, request.headers

    # The database.
    tenant = Tenant.objects.get(public_id=out["appId"])
    assert tenant.uid == out["appUid"]
    assert tenant.message_format == Tenant.MessageFormat.SVIX
    shown = out["endpoint"]
    endpoint = Endpoint.objects.get(pk=shown["id"])
    assert endpoint.tenant_id == tenant.pk
    assert endpoint.uid == shown["uid"]
    assert endpoint.url == shown["url"]
    assert endpoint.description == shown["description"]
    assert endpoint.channels == ["billing"]
    assert endpoint.metadata == {"team": "payments", "sdk": "node", "stage": "patch"}
    assert endpoint.rate_limit == shown["throttleRate"] == 60
    assert sorted(t.name for t in endpoint.event_types.all()) == shown["filterTypes"]
    assert headers_open(endpoint.headers) == out["headers"]
    assert endpoint.enabled

    for message in messages.values():
        event = Event.objects.get(pk=message["id"])
        assert event.tenant_id == tenant.pk
        assert event.event_type.name == message["eventType"]
        assert event.idempotency_key == message["eventId"]
        assert event.channels == message["channels"]
        assert event.body == message["body"]
        assert event.payload == message["payload"]
    assert not Event.objects.filter(pk__in=out["notDelivered"], deliveries__isnull=False).exists()
    assert len(out["pages"]) == len(messages)
