"""Bad input the hostile review found (hardening issue, items 10-12 and 14): each a clear 400
that stores nothing, where it used to be a 500 or worse."""

import base64
import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from deliveries import PublishError, publish_event
from endpoints.models import Endpoint, EventType
from endpoints.services import endpoint_create, endpoint_headers_validate

from .support import assert_error

pytestmark = pytest.mark.django_db

SURROGATE_BODY = b'{"event_type": "invoice.paid", "payload": {"note": "\\ud800"}}'


def test_a_lone_surrogate_in_a_payload_is_400(api_a, invoice_paid):
    response = api_a.post(
        "/api/v1/tenants/acme/events/", SURROGATE_BODY, content_type="application/json"
    )

    error = assert_error(response, 400, "parse_error")
    assert "surrogate" in error["message"]


def test_a_lone_surrogate_never_reaches_the_catalogue(platform):
    body = b'{"name": "odd.type", "example": {"x": "\\udfff"}}'
    response = platform.post("/api/v1/event-types/", body, content_type="application/json")

    assert response.status_code == 400
    assert not EventType.objects.filter(name="odd.type").exists()
    assert platform.get("/api/v1/event-types/").status_code == 200


def test_publish_event_in_python_refuses_a_lone_surrogate(tenant, invoice_paid):
    with pytest.raises(PublishError, match="surrogate"):
        publish_event(tenant, "invoice.paid", {"note": "\ud800"})


def test_nul_in_an_event_type_schema_or_example_is_a_field_error(platform):
    for field, value in (("schema", {"title": "a\u0000b"}), ("example", {"x": "\u0000"})):
        response = platform.post(
            "/api/v1/event-types/", {"name": f"nul.{field}", field: value}, format="json"
        )
        error = assert_error(response, 400, "validation_error")
        assert field in error["fields"]


def test_a_cursor_holding_nul_is_400(api_a):
    cursor = base64.urlsafe_b64encode(json.dumps(["\u0000"]).encode()).decode().rstrip("=")

    response = api_a.get(f"/api/v1/tenants/acme/events/?cursor={cursor}")

    assert_error(response, 400, "validation_error")


@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x7f", "\x00", "\x1b"])
def test_control_characters_in_header_values_are_refused(char):
    with pytest.raises(ValidationError, match="control character"):
        endpoint_headers_validate({"X-Token": f"a{char}b"})


def test_a_tab_in_a_header_value_is_allowed():
    assert endpoint_headers_validate({"X-Token": "a\tb"}) == {"X-Token": "a\tb"}


@pytest.mark.parametrize(
    "url",
    [
        "http://" + "a" * 300 + ".example.com/",
        "http://%31%32%37.0.0.1/",
        "http://.127.0.0.1/",
        "http://a..example.com/",
        "http://" + ".".join(["abc"] * 70) + "/",
        "http://exa$mple.com/",
    ],
)
def test_hosts_that_cannot_exist_are_refused_at_save(tenant, url):
    with pytest.raises(ValidationError) as exc:
        endpoint_create(tenant=tenant, url=url)
    assert "url" in exc.value.message_dict
    assert not Endpoint.objects.exists()


def test_ordinary_names_still_pass(tenant, dns):
    dns["hooks.example-shop.com."] = ["127.0.0.1"]
    dns["my_svc.internal"] = ["127.0.0.1"]
    for url in (
        "http://hooks.example-shop.com./x",
        "http://my_svc.internal:8080/",
        "http://127.0.0.1:9/",
    ):
        endpoint_create(tenant=tenant, url=url)
    assert Endpoint.objects.count() == 3


def test_unknown_fields_are_refused_not_ignored(api_a, endpoint_a):
    response = api_a.patch(
        f"/api/v1/tenants/acme/endpoints/{endpoint_a.pk}/",
        {"secret": "whsec_" + "A" * 40, "description": "x"},
        format="json",
    )

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["secret"]
    endpoint_a.refresh_from_db()
    assert endpoint_a.description == ""


def test_a_nul_in_an_api_url_answers_json(api_a):
    native = api_a.get("/api/v1/tenants/acme/endpoints/?cursor=%00")
    svix = api_a.get("/api/v1/app/acme/endpoint/%00")

    assert native.status_code == svix.status_code == 400
    assert native.json()["error"]["code"] == "bad_request"
    assert svix.json() == {
        "code": "bad_request",
        "detail": "NUL characters are not allowed in URLs.",
    }


@pytest.mark.parametrize(
    "route", ["msg", "endpoint/{e}/msg", "attempt/endpoint/{e}", "attempt/msg/{m}"]
)
@pytest.mark.parametrize(
    "query", ["before=9999-12-31T23:59:59-05:00", "after=0001-01-01T00:00:00%2B05:00"]
)
def test_svix_times_past_the_calendar_once_in_utc_are_422(
    platform, endpoint_a, delivered, route, query
):
    message = delivered(endpoint_a).event_id
    path = "/api/v1/app/acme/" + route.format(e=endpoint_a.pk, m=message)

    response = platform.get(f"{path}?{query}")

    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"] == ["query", query.split("=")[0]]


@pytest.mark.parametrize("query", ["until=0001-01-01T00:00:00Z", "before=9999-12-31T23:59:59Z"])
def test_svix_times_at_the_calendar_ends_are_answered(platform, endpoint_a, query):
    stats = platform.get(f"/api/v1/app/acme/endpoint/{endpoint_a.pk}/stats?{query}")
    messages = platform.get(f"/api/v1/app/acme/msg?{query}")

    assert stats.status_code == 200, stats.content
    assert messages.status_code == 200


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
@pytest.mark.parametrize(
    ("path", "shape"),
    [("/api/v1/tenants/acme/nothing-here/", "native"), ("/api/v1/app/acme/nothing-here", "svix")],
)
def test_unknown_api_routes_are_json_404_for_every_method(key_a, method, path, shape):
    # given a client that checks CSRF as a browser-less SDK meets it (no cookie, no token)
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {key_a}")

    body = {} if method == "get" else {"data": "{}", "content_type": "application/json"}

    response = getattr(client, method)(path, **body)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    expected = (
        {"code": "not_found", "detail": "Entity not found"}
        if shape == "svix"
        else {"error": {"code": "not_found", "message": "No such API route.", "fields": {}}}
    )
    assert response.json() == expected
