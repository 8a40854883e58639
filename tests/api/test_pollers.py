"""Poll endpoints over the native API: created with kind poll, read with a cursor or as a named
consumer, limited per key, and only by their own tenant."""

from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook

from deliveries import publish_event
from deliveries.services.fanout import events_fan_out_pending
from endpoints.models import Endpoint
from endpoints.services import api_key_create

from .support import assert_error

pytestmark = pytest.mark.django_db

BASE = "/api/v1/tenants/acme/"


@pytest.fixture
def poller(api_a, invoice_paid) -> str:  # type: ignore[no-untyped-def]
    created = api_a.post(f"{BASE}endpoints/", {"kind": "poll"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["kind"] == "poll"
    assert created.json()["url"] == ""
    return created.json()["id"]


def _publish(tenant, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    ids = [publish_event(tenant, "invoice.paid", {"n": i}).pk for i in range(n)]
    events_fan_out_pending(tenant_id=tenant.pk)
    return ids


def test_a_feed_is_read_page_by_page_with_its_cursor(api_a, poller, tenant):
    ids = _publish(tenant, 5)
    first = api_a.get(f"{BASE}pollers/{poller}/", {"limit": 3}).json()
    second = api_a.get(
        f"{BASE}pollers/{poller}/", {"limit": 3, "cursor": first["next_cursor"]}
    ).json()

    assert [e["id"] for e in first["data"]] == ids[:3]
    assert first["done"] is False
    assert [e["id"] for e in second["data"]] == ids[3:]
    assert second["done"] is True
    item = first["data"][0]
    assert item["event_type"] == "invoice.paid"
    assert item["payload"]["data"] == {"n": 0}
    assert item["headers"]["webhook-id"] == ids[0]
    assert item["headers"]["webhook-signature"].startswith("v1,")


def test_consumers_keep_their_own_place(api_a, poller, tenant):
    ids = _publish(tenant, 3)
    url = f"{BASE}pollers/{poller}/consumers/"
    a1 = api_a.get(f"{url}billing/", {"limit": 2}).json()
    a2 = api_a.get(f"{url}billing/", {"limit": 2, "iterator": a1["next_cursor"]}).json()
    b1 = api_a.get(f"{url}audit/").json()
    sought = api_a.post(f"{url}billing/seek", {"after": "2000-01-01T00:00:00Z"}, format="json")
    a3 = api_a.get(f"{url}billing/").json()

    assert [e["id"] for e in a1["data"]] == ids[:2]
    assert [e["id"] for e in a2["data"]] == ids[2:]
    assert [e["id"] for e in b1["data"]] == ids
    assert sought.status_code == 200, sought.content
    assert [e["id"] for e in a3["data"]] == ids  # back to the start


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 251}, "limit"), ({"wait": 31}, "wait"), ({"cursor": "nope"}, "cursor")],
)
def test_bad_reads_are_400_naming_the_parameter(api_a, poller, params, field):
    response = api_a.get(f"{BASE}pollers/{poller}/", params)
    assert field in assert_error(response, 400, "validation_error")["fields"]


def test_an_expired_cursor_is_410_with_the_oldest_one(api_a, poller):
    Endpoint.objects.filter(pk=poller).update(feed_trimmed_through=5)
    response = api_a.get(f"{BASE}pollers/{poller}/")
    error = assert_error(response, 410, "cursor_expired")
    assert error["fields"]["oldest_cursor"][0].startswith("c_")


def test_a_push_endpoint_and_another_tenants_poller_are_404(
    api_a, client_for, key_b, poller, endpoint_a
):
    assert api_a.get(f"{BASE}pollers/{endpoint_a.pk}/").status_code == 404
    other = client_for(key_b)
    assert other.get(f"{BASE}pollers/{poller}/").status_code == 404
    assert other.get(f"/api/v1/tenants/globex/pollers/{poller}/").status_code == 404


def test_polls_have_their_own_limit_per_key(api_a, poller, settings):
    settings.WEBHOOKS_POLL_RATE_LIMIT = 2
    codes = [api_a.get(f"{BASE}pollers/{poller}/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert api_a.get(f"{BASE}endpoints/").status_code == 200  # the rest of the API is not


def test_seek_is_post_only_on_both_surfaces(api_a, poller, client_for, platform_key):
    native = api_a.get(f"{BASE}pollers/{poller}/consumers/c/seek")
    svix = client_for(platform_key).get(f"/api/v1/app/acme/poller/{poller}/consumer/c/seek")
    assert native.status_code == 405
    assert svix.status_code == 405


def test_consumers_are_listed_with_how_far_behind_and_can_be_forgotten(api_a, poller, tenant):
    _publish(tenant, 3)
    url = f"{BASE}pollers/{poller}/consumers/"
    first = api_a.get(f"{url}billing/", {"limit": 2}).json()
    api_a.get(f"{url}billing/", {"limit": 2, "iterator": first["next_cursor"]})
    api_a.get(f"{url}audit/")

    listed = api_a.get(url).json()
    deleted = api_a.delete(f"{url}audit/")
    again = api_a.delete(f"{url}audit/")

    assert sorted((c["name"], c["unread"]) for c in listed) == [("audit", 3), ("billing", 1)]
    assert deleted.status_code == 204
    assert again.status_code == 404
    assert [c["name"] for c in api_a.get(url).json()] == ["billing"]


@pytest.fixture
def read_only_a(client_for, tenant):  # type: ignore[no-untyped-def]
    return client_for(api_key_create(tenant=tenant, name="exporter", read_only=True)[1])


def test_feed_items_show_credential_headers_redacted_on_both_surfaces(
    api_a, read_only_a, poller, tenant
):
    patched = api_a.patch(
        f"{BASE}endpoints/{poller}/",
        {"headers": {"Authorization": "Bearer s3cr3t", "X-Team": "billing"}},
        format="json",
    )
    assert patched.status_code == 200, patched.content
    _publish(tenant, 1)

    native = read_only_a.get(f"{BASE}pollers/{poller}/").json()["data"][0]["headers"]
    svix = read_only_a.get(f"/api/v1/app/acme/poller/{poller}").json()["data"][0]["headers"]

    for headers in (native, svix):
        assert headers["Authorization"] == "[redacted]"
        assert headers["X-Team"] == "billing"
        assert headers["webhook-signature"].startswith("v1,")


def test_a_read_only_key_may_not_read_as_a_named_consumer(api_a, read_only_a, poller, tenant):
    _publish(tenant, 2)
    first = api_a.get(f"{BASE}pollers/{poller}/consumers/billing/", {"limit": 1}).json()
    url = f"{BASE}pollers/{poller}/consumers/"

    moved = read_only_a.get(f"{url}billing/", {"iterator": first["next_cursor"]})
    created = read_only_a.get(f"{url}new/")
    svix = read_only_a.get(f"/api/v1/app/acme/poller/{poller}/consumer/billing")
    feed = read_only_a.get(f"{BASE}pollers/{poller}/")

    assert_error(moved, 403, "permission_denied")
    assert_error(created, 403, "permission_denied")
    assert svix.status_code == 403
    assert svix.json()["code"] == "insufficient access"
    assert feed.status_code == 200
    listed = api_a.get(url).json()
    assert [(c["name"], c["unread"]) for c in listed] == [("billing", 2)]


PAYLOAD = {"name": "Zoë ✓", "amount": 12.5, "nested": {"b": 1, "a": [1.0, None]}}


def test_each_item_carries_the_exact_body_its_signatures_are_over(
    api_a, tenant, invoice_paid, client_for, platform_key
):
    """Re-serialising ``payload`` gives other bytes (spacing, escaping): ``body`` is the string
    to verify, on the native API and the Svix poller alike."""
    created = api_a.post(f"{BASE}endpoints/", {"kind": "poll"}, format="json").json()
    publish_event(tenant, "invoice.paid", PAYLOAD)
    events_fan_out_pending(tenant_id=tenant.pk)

    (native,) = api_a.get(f"{BASE}pollers/{created['id']}/").json()["data"]
    svix_page = client_for(platform_key).get(f"/api/v1/app/acme/poller/{created['id']}")
    (svix,) = svix_page.json()["data"]

    for item in (native, svix):
        assert json.dumps(item["payload"]).encode() != item["body"].encode()
        verified = Webhook(created["secret"]).verify(item["body"], item["headers"])
        assert verified == json.loads(item["body"])
    assert native["payload"] == json.loads(native["body"])
    assert native["payload"]["data"] == PAYLOAD


def test_a_new_consumer_beyond_the_cap_is_refused_and_the_others_keep_working(
    api_a, poller, tenant, client_for, platform_key, settings
):
    settings.WEBHOOKS_POLL_CONSUMERS_PER_ENDPOINT = 2
    ids = _publish(tenant, 1)
    url = f"{BASE}pollers/{poller}/consumers/"
    assert api_a.get(f"{url}a/").status_code == 200
    assert api_a.get(f"{url}b/").status_code == 200

    native = api_a.get(f"{url}c/")
    svix = client_for(platform_key).get(f"/api/v1/app/acme/poller/{poller}/consumer/c")
    seek = api_a.post(f"{url}c/seek", {"after": "2000-01-01T00:00:00Z"}, format="json")
    existing = api_a.get(f"{url}a/")

    message = (
        "This poll endpoint has 2 named consumers, the most it may have; reuse one, or delete "
        "one it no longer needs."
    )
    assert assert_error(native, 400, "validation_error")["fields"] == {"consumer": [message]}
    assert svix.status_code == 422
    assert message in svix.json()["detail"][0]["msg"]
    assert assert_error(seek, 400, "validation_error")["fields"] == {"consumer": [message]}
    assert [e["id"] for e in existing.json()["data"]] == ids
    assert sorted(c["name"] for c in api_a.get(url).json()) == ["a", "b"]


def test_the_consumer_list_is_bounded_by_the_cap(api_a, poller, settings):
    url = f"{BASE}pollers/{poller}/consumers/"
    for name in ("c", "a", "b"):
        api_a.get(f"{url}{name}/")
    settings.WEBHOOKS_POLL_CONSUMERS_PER_ENDPOINT = 2

    listed = api_a.get(url).json()

    assert [c["name"] for c in listed] == ["a", "b"]


def test_a_poll_endpoint_may_not_take_the_twilio_style(api_a, poller, invoice_paid):
    created = api_a.post(
        f"{BASE}endpoints/", {"kind": "poll", "signature_style": "twilio"}, format="json"
    )
    updated = api_a.patch(
        f"{BASE}endpoints/{poller}/", {"signature_style": "twilio"}, format="json"
    )

    message = (
        "The twilio style signs over the endpoint's URL, and a poll endpoint has none: choose "
        "another style."
    )
    for response in (created, updated):
        error = assert_error(response, 400, "validation_error")
        assert error["fields"] == {"signature_style": [message]}
    assert Endpoint.objects.get(pk=poller).signature_style == "standard"
