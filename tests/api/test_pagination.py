"""Cursor pagination, newest first, on every list."""

import pytest

from endpoints.services import tenant_create
from platform_core.pagination import encode_cursor

from .support import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(api_a, invoice_paid):
    """Five events of acme, oldest first."""
    return [
        api_a.post(
            "/api/v1/tenants/acme/events/",
            {"event_type": "invoice.paid", "payload": {"n": n}},
            format="json",
        ).json()["id"]
        for n in range(5)
    ]


def test_pages_walk_newest_first_to_the_end(api_a, events):
    first = api_a.get("/api/v1/tenants/acme/events/", {"limit": 2}).json()
    second = api_a.get(
        "/api/v1/tenants/acme/events/", {"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    third = api_a.get(
        "/api/v1/tenants/acme/events/", {"limit": 2, "cursor": second["next_cursor"]}
    ).json()

    ids = [e["id"] for page in (first, second, third) for e in page["data"]]
    assert sorted(ids, reverse=True) == ids
    assert sorted(ids) == sorted(events)
    assert third["next_cursor"] is None


def test_default_limit_is_50(platform):
    for n in range(52):
        tenant_create(slug=f"t{n}x")

    page = platform.get("/api/v1/tenants/").json()

    assert len(page["data"]) == 50
    assert page["next_cursor"] is not None


@pytest.mark.parametrize("limit", ["0", "251", "ten"])
def test_a_limit_out_of_range_is_400(api_a, tenant, limit):
    response = api_a.get("/api/v1/tenants/acme/events/", {"limit": limit})

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["limit"]


@pytest.mark.parametrize("cursor", ["garbage!!", encode_cursor("not-an-int")])
def test_a_bad_cursor_is_400(platform, tenant, cursor):
    response = platform.get("/api/v1/tenants/", {"cursor": cursor})

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"cursor": ["The cursor is not one this API returned for this list."]}


def test_a_limit_of_250_is_allowed(api_a, events):
    response = api_a.get("/api/v1/tenants/acme/events/", {"limit": 250})

    assert len(response.json()["data"]) == 5
