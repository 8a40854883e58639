"""Request bodies sent with ``Transfer-Encoding: chunked`` and no ``Content-Length``."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Iterator

import pytest
from django.test import RequestFactory

from deliveries.models import Event
from endpoints.services import api_key_create
from tests.workers import gunicorn_server
from webhooks_platform.wsgi import application

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/api/v1/tenants/acme/events/"
BODY = json.dumps({"event_type": "invoice.paid", "payload": {"amount": 42}}).encode()


def call(environ: dict) -> tuple[int, dict]:
    """The deployed WSGI application, called as a server calls it."""
    answer: dict = {}

    def start_response(status: str, headers: list, exc_info: object = None) -> None:
        answer["status"] = int(status.split()[0])

    body = b"".join(application(environ, start_response))
    return answer["status"], json.loads(body)


def chunked_environ(key: str, *, decoded_by_server: bool) -> dict:
    environ = (
        RequestFactory()
        .generic(
            "POST",
            PATH,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
            HTTP_TRANSFER_ENCODING="chunked",
        )
        .environ
    )
    environ.pop("CONTENT_LENGTH", None)
    environ["CONTENT_TYPE"] = "application/json"
    environ["wsgi.input"] = io.BytesIO(BODY)
    if decoded_by_server:
        environ["wsgi.input_terminated"] = True
    return environ


def test_a_chunked_body_is_read_whole(tenant, invoice_paid):
    key = api_key_create(tenant=tenant, name="k")[1]

    status, body = call(chunked_environ(key, decoded_by_server=True))

    assert status == 202, body
    assert Event.objects.get(pk=body["id"]).payload == {"amount": 42}


def test_a_chunked_body_the_server_did_not_decode_is_411_never_empty(tenant, invoice_paid):
    key = api_key_create(tenant=tenant, name="k")[1]

    status, body = call(chunked_environ(key, decoded_by_server=False))

    assert status == 411
    assert body["error"]["code"] == "length_required"
    assert not Event.objects.exists()


def test_a_chunked_body_over_the_limit_is_413(tenant, invoice_paid, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 20
    key = api_key_create(tenant=tenant, name="k")[1]

    status, body = call(chunked_environ(key, decoded_by_server=True))

    assert status == 413
    assert body["error"]["code"] == "payload_too_large"


@pytest.fixture
def gunicorn(tmp_path) -> Iterator[int]:  # type: ignore[no-untyped-def]
    with gunicorn_server(tmp_path / "gunicorn.log") as port:
        yield port


def test_gunicorn_hands_a_chunked_publish_over_whole(gunicorn, tenant, invoice_paid):
    key = api_key_create(tenant=tenant, name="k")[1]
    conn = http.client.HTTPConnection("127.0.0.1", gunicorn, timeout=30)

    conn.request(
        "POST",
        PATH,
        body=iter([BODY[:20], BODY[20:]]),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    body = json.loads(response.read())

    assert response.status == 202, body
    assert Event.objects.get(pk=body["id"]).payload == {"amount": 42}
