import json
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

from deliveries import signing
from deliveries.models import Event
from endpoints.models import Endpoint, EventType, Tenant
from endpoints.services import endpoint_secret_current
from tests.workers import free_port, wait_for_port

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_tenant_json():
    data = json.loads(run("create_tenant", "acme", "--name", "Acme Inc.", "--json"))
    tenant = Tenant.objects.get(slug="acme")
    assert data == {"id": tenant.pk, "slug": "acme", "name": "Acme Inc."}


def test_create_tenant_plain_and_duplicate():
    assert run("create_tenant", "acme").startswith("Created tenant acme (id ")
    with pytest.raises(CommandError, match="slug: A tenant with slug 'acme' already exists"):
        run("create_tenant", "acme")


def test_create_event_type_with_schema_and_bad_json():
    run(
        "create_event_type",
        "invoice.paid",
        "--description",
        "Paid",
        "--schema",
        '{"type": "object"}',
    )
    assert EventType.objects.get(name="invoice.paid").schema == {"type": "object"}
    with pytest.raises(CommandError, match="--schema is not valid JSON"):
        run("create_event_type", "x.y", "--schema", "{nope")


def test_create_endpoint_json_gives_id_url_and_secret(tenant, invoice_paid):
    data = json.loads(
        run(
            "create_endpoint",
            "acme",
            "http://127.0.0.1:9/h",
            "--event-type",
            "invoice.paid",
            "--header",
            "X-A=1",
            "--json",
        )
    )
    endpoint = Endpoint.objects.get(pk=data["id"])
    assert data["url"] == "http://127.0.0.1:9/h"
    assert data["secret"] == endpoint_secret_current(endpoint=endpoint)
    assert data["event_types"] == ["invoice.paid"]
    assert endpoint.headers == {"X-A": "1"}


def test_create_endpoint_errors_are_clear(tenant, settings):
    settings.WEBHOOKS_ALLOWED_SUBNETS = []
    with pytest.raises(CommandError, match="url: 127.0.0.1 is a loopback address"):
        run("create_endpoint", "acme", "http://127.0.0.1:9/h")
    with pytest.raises(CommandError, match="no tenant 'ghost'"):
        run("create_endpoint", "ghost", "http://127.0.0.1:9/h")
    with pytest.raises(CommandError, match="use NAME=VALUE"):
        run("create_endpoint", "acme", "http://127.0.0.1:9/h", "--header", "oops")


def test_publish_event_json_and_errors(tenant, invoice_paid):
    data = json.loads(
        run("publish_event", "acme", "invoice.paid", '{"n": 1}', "--idempotency-key", "k", "--json")
    )
    again = json.loads(
        run("publish_event", "acme", "invoice.paid", '{"n": 2}', "--idempotency-key", "k", "--json")
    )
    assert data["id"] == again["id"]
    assert Event.objects.get().payload == {"n": 1}
    with pytest.raises(CommandError, match="payload is not valid JSON"):
        run("publish_event", "acme", "invoice.paid", "{bad")
    with pytest.raises(CommandError, match="unknown event type 'no.such'"):
        run("publish_event", "acme", "no.such", "{}")


def test_publish_event_reads_a_large_payload_from_a_file_or_stdin(
    tenant, invoice_paid, tmp_path, monkeypatch
):
    big = {"items": ["x" * 1000] * 160}  # about 160 KB: too long for an argument
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(big))

    from_file = json.loads(run("publish_event", "acme", "invoice.paid", f"@{path}", "--json"))
    monkeypatch.setattr("sys.stdin", StringIO(json.dumps({"from": "stdin"})))
    from_stdin = json.loads(run("publish_event", "acme", "invoice.paid", "-", "--json"))

    assert Event.objects.get(pk=from_file["id"]).payload == big
    assert Event.objects.get(pk=from_stdin["id"]).payload == {"from": "stdin"}
    with pytest.raises(CommandError, match="cannot read the payload from .*missing.json"):
        run("publish_event", "acme", "invoice.paid", f"@{tmp_path / 'missing.json'}")
    path.write_text("{bad")
    with pytest.raises(CommandError, match=r"payload.json is not valid JSON"):
        run("publish_event", "acme", "invoice.paid", f"@{path}")


@pytest.mark.parametrize("kind", ["whsec", "ed25519"])
def test_receive_webhooks_verifies_and_prints(kind):
    secret = signing.secret_generate() if kind == "whsec" else signing.signing_key_generate()
    given = secret if kind == "whsec" else signing.public_key(secret)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "receive_webhooks", "--port", str(port), "--secret", given],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, timeout=20)
        body = b'{"type":"invoice.paid","data":{"n":1}}'
        headers = signing.headers(
            secrets=[secret], msg_id="msg_1", timestamp=int(time.time()), body=body
        )
        good = requests.post(f"http://127.0.0.1:{port}/hook", data=body, headers=headers, timeout=5)
        headers["webhook-signature"] = "v1,AAAA v1a,AAAA"
        bad = requests.post(f"http://127.0.0.1:{port}/hook", data=body, headers=headers, timeout=5)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    assert (good.status_code, bad.status_code) == (200, 401)
    assert "webhook-id=msg_1  signature valid" in output
    assert "signature INVALID" in output
    assert '"n": 1' in output
