"""The official ``svix`` package from PyPI, unchanged, against a live server (and a real worker
where something is delivered): what a Svix user's code does after changing one URL."""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from svix.api import (
    ApplicationIn,
    ApplicationListOptions,
    ApplicationPatch,
    ApplicationTokenExpireIn,
    AppPortalAccessIn,
    EndpointHeadersIn,
    EndpointHeadersPatchIn,
    EndpointIn,
    EndpointPatch,
    EndpointSecretRotateIn,
    EndpointUpsertIn,
    EventExampleIn,
    EventTypeIn,
    EventTypePatch,
    MessageAttemptListByEndpointOptions,
    MessageCreateOptions,
    MessageGetOptions,
    MessageIn,
    MessageListOptions,
    MessagePollerConsumerPollOptions,
    MessagePollerPollOptions,
    PollingEndpointConsumerSeekIn,
    RecoverIn,
)
from svix.exceptions import HttpError, HTTPValidationError
from svix.webhooks import Webhook

from deliveries.models import Attempt, Delivery, Event, FeedItem
from endpoints.models import Endpoint, EventType, Tenant
from endpoints.services import api_key_create, endpoint_create

pytestmark = [pytest.mark.django_db(transaction=True)]


def _wait(predicate, timeout=30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


# --- applications, event types, endpoints (no worker needed) ----------------------------------


def test_application_get_or_create_finds_by_uid_and_upserts(svix):
    first = svix.application.get_or_create(ApplicationIn(name="Acme", uid="acme-1"))
    again = svix.application.get_or_create(ApplicationIn(name="Acme again", uid="acme-1"))
    assert first.id == again.id
    assert first.id.startswith("app_")
    assert len(first.id) == 4 + 27
    assert svix.application.get("acme-1").id == first.id  # the uid works where the id does
    tenant = Tenant.objects.get(public_id=first.id)
    assert tenant.message_format == Tenant.MessageFormat.SVIX

    patched = svix.application.patch(first.id, ApplicationPatch(metadata={"plan": "pro"}))
    assert patched.metadata == {"plan": "pro"}
    assert patched.name == "Acme"

    created = svix.application.upsert("beta", ApplicationIn(name="Beta"))
    assert created.uid == "beta"
    updated = svix.application.upsert("beta", ApplicationIn(name="Beta 2"))
    assert updated.id == created.id
    assert updated.name == "Beta 2"

    with pytest.raises(HttpError) as exc:
        svix.application.create(ApplicationIn(name="dup", uid="acme-1"))
    assert exc.value.status_code == 409

    svix.application.delete(created.id)
    with pytest.raises(HttpError) as exc:
        svix.application.get(created.id)
    assert exc.value.status_code == 404
    assert exc.value.code == "not_found"


def test_lists_page_with_iterators_through_more_than_one_page(svix):
    ids = {svix.application.create(ApplicationIn(name=f"app {i}")).id for i in range(5)}
    seen: list[str] = []
    iterator = None
    pages = 0
    while True:
        page = svix.application.list(ApplicationListOptions(limit=2, iterator=iterator))
        pages += 1
        seen += [a.id for a in page.data]
        if page.done:
            break
        iterator = page.iterator
    assert pages == 3
    assert seen == sorted(ids)

    with pytest.raises(HTTPValidationError) as exc:
        svix.application.list(ApplicationListOptions(limit=251))
    assert exc.value.status_code == 422
    assert exc.value.detail[0].loc == ["query", "limit"]


def test_event_types_with_schemas_archive_and_revive(svix):
    schema = {"1": {"type": "object", "examples": [{"amount": 5}]}}
    created = svix.event_type.create(
        EventTypeIn(name="invoice.paid", description="Paid", schemas=schema, feature_flags=["beta"])
    )
    assert created.schemas == schema
    assert created.feature_flags == ["beta"]
    assert not created.deprecated
    with pytest.raises(HttpError) as exc:
        svix.event_type.create(EventTypeIn(name="invoice.paid", description="again"))
    assert exc.value.status_code == 409

    patched = svix.event_type.patch("invoice.paid", EventTypePatch(deprecated=True))
    assert patched.deprecated
    assert patched.description == "Paid"
    svix.event_type.delete("invoice.paid")  # archives
    assert EventType.objects.get(name="invoice.paid").archived
    listed = [t.name for t in svix.event_type.list().data]
    assert "invoice.paid" not in listed
    revived = svix.event_type.create(EventTypeIn(name="invoice.paid", description="back"))
    assert not revived.archived
    assert revived.description == "back"


def test_endpoint_with_every_optional_field_secret_headers_and_errors(svix, receiver):
    app = svix.application.create(ApplicationIn(name="Acme"))
    svix.event_type.create(EventTypeIn(name="order.created", description=""))
    secret = _secret()
    ep = svix.endpoint.create(
        app.id,
        EndpointIn(
            url=receiver.url("/ok"),
            uid="orders",
            description="Orders",
            event_types=["order.created"],
            channels=["eu", "project_1"],
            secret=secret,
            throttle_rate=50,
            metadata={"team": "billing"},
            disabled=False,
        ),
    )
    assert ep.id.startswith("ep_")
    assert ep.uid == "orders"
    assert ep.throttle_rate == 50
    assert ep.event_types == ["order.created"]
    assert ep.channels == ["eu", "project_1"]
    assert ep.metadata == {"team": "billing"}
    assert ep.disabled is False
    row = Endpoint.objects.get(pk=ep.id)
    assert row.rate_limit == 50
    assert row.channels == ["eu", "project_1"]

    assert svix.endpoint.get(app.id, "orders").id == ep.id
    assert svix.endpoint.get_secret(app.id, ep.id).key == secret
    rotated = svix.endpoint.rotate_secret(app.id, ep.id, EndpointSecretRotateIn())
    assert rotated.key != secret
    assert svix.endpoint.get_secret(app.id, ep.id).key == rotated.key
    custom = _secret()
    svix.endpoint.rotate_secret(app.id, ep.id, EndpointSecretRotateIn(key=custom))
    assert svix.endpoint.get_secret(app.id, ep.id).key == custom

    svix.endpoint.set_headers(
        app.id, ep.id, EndpointHeadersIn(headers={"X-Team": "billing", "Authorization": "t0k"})
    )
    headers = svix.endpoint.get_headers(app.id, ep.id)
    assert headers.headers == {"X-Team": "billing"}
    assert headers.sensitive == ["Authorization"]
    svix.endpoint.patch_headers(
        app.id, ep.id, EndpointHeadersPatchIn(headers={"X-Extra": "1"}, delete_headers=["X-Team"])
    )
    assert svix.endpoint.get_headers(app.id, ep.id).headers == {"X-Extra": "1"}

    with pytest.raises(HttpError) as exc:
        svix.endpoint.create(app.id, EndpointIn(url=receiver.url("/x"), uid="orders"))
    assert exc.value.status_code == 409

    patched = svix.endpoint.patch(app.id, ep.id, EndpointPatch(description="New", channels=None))
    assert patched.description == "New"
    assert patched.channels is None
    assert patched.throttle_rate == 50  # untouched by a patch that does not name it
    upserted = svix.endpoint.upsert(
        app.id, ep.id, EndpointUpsertIn(url=receiver.url("/ok2"), description="Put")
    )
    assert upserted.url.endswith("/ok2")
    assert upserted.event_types is None
    assert upserted.throttle_rate is None  # a PUT replaces the whole endpoint

    with pytest.raises(HTTPValidationError) as exc:
        svix.endpoint.create(app.id, EndpointIn(url="ftp://example.invalid/x"))
    assert exc.value.detail[0].loc == ["body", "url"]
    with pytest.raises(HTTPValidationError) as exc:
        svix.endpoint.create(app.id, EndpointIn(url=receiver.url("/x"), event_types=["nope"]))
    assert exc.value.detail[0].loc == ["body", "eventTypes"]

    svix.endpoint.delete(app.id, ep.id)
    with pytest.raises(HttpError) as exc:
        svix.endpoint.get(app.id, ep.id)
    assert exc.value.status_code == 404


def test_a_tenant_key_sees_only_its_own_application(svix, server_url):
    from svix.api import Svix, SvixOptions

    mine = svix.application.create(ApplicationIn(name="Mine"))
    other = svix.application.create(ApplicationIn(name="Other"))
    _, key = api_key_create(tenant=Tenant.objects.get(public_id=mine.id))
    scoped = Svix(key, SvixOptions(server_url=server_url, retry_schedule=[]))
    assert scoped.application.get(mine.id).id == mine.id
    with pytest.raises(HttpError) as exc:
        scoped.application.get(other.id)
    assert exc.value.status_code == 404
    with pytest.raises(HttpError) as exc:
        scoped.application.list()
    assert exc.value.status_code == 403
    bad = Svix("whk_not_a_key", SvixOptions(server_url=server_url, retry_schedule=[]))
    with pytest.raises(HttpError) as exc:
        bad.application.get(mine.id)
    assert exc.value.status_code == 401
    assert exc.value.code == "authentication_failed"


def test_every_api_answer_is_json_without_redirects(server_url, platform_token):
    auth = {"Authorization": f"Bearer {platform_token}"}
    with httpx.Client(base_url=server_url, headers=auth) as client:
        for path in ("/api/v1/app/", "/api/v1/app", "/api/v1/event-type/"):
            assert client.get(path).status_code == 200
        unknown = client.get("/api/v1/app/nope/widgets")
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "not_found"
        assert client.get("/api/v1/no-such-route").headers["content-type"] == "application/json"
        wrong_method = client.put("/api/v1/app")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["code"]
        bad_json = client.post(
            "/api/v1/app", content=b"{", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 422
        assert bad_json.json()["detail"][0]["type"] == "value_error.jsondecode"
        assert client.get("/api/v1/health").status_code == 200


def test_an_idempotency_key_replays_the_first_answer(svix, server_url, platform_token):
    auth = {"Authorization": f"Bearer {platform_token}", "Idempotency-Key": "create-acme"}
    with httpx.Client(base_url=server_url, headers=auth) as client:
        first = client.post("/api/v1/app", json={"name": "Acme"})
        again = client.post("/api/v1/app", json={"name": "Acme"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert Tenant.objects.filter(name="Acme").count() == 1


def test_a_message_payload_that_is_not_an_object_is_422_as_svix_answers(
    svix, server_url, platform_token
):
    app = svix.application.create(ApplicationIn(name="Acme"))
    auth = {"Authorization": f"Bearer {platform_token}"}
    with httpx.Client(base_url=server_url, headers=auth) as client:
        answers = [
            client.post(f"/api/v1/app/{app.id}/msg", json={"eventType": "t", "payload": payload})
            for payload in ("str", [1], 3)
        ]
    assert [a.status_code for a in answers] == [422] * 3
    assert all(a.json()["detail"][0]["loc"] == ["body", "payload"] for a in answers)
    assert not Event.objects.exists()


# --- messages, delivery, attempts (a real worker) ---------------------------------------------


@pytest.mark.e2e
def test_a_message_is_delivered_as_svix_sends_it_and_verifies(svix, receiver, worker):
    app = svix.application.create(ApplicationIn(name="Acme", uid="acme"))
    secret = _secret()
    ep = svix.endpoint.create(app.id, EndpointIn(url=receiver.url("/hook"), secret=secret))
    payload = {"type": "invoice.paid", "id": "in_1", "amount": 1200, "note": "café"}
    msg = svix.message.create(
        "acme",
        MessageIn(event_type="invoice.paid", payload=payload, event_id="evt-1", tags=["t1"]),
    )
    assert msg.id.startswith("msg_")
    assert msg.event_id == "evt-1"
    assert msg.payload == {}
    got = receiver.wait_for(1, "/hook")
    assert len(got) == 1
    body = got[0].body
    assert json.loads(body) == payload  # the payload itself, not wrapped
    assert {"svix-id", "svix-timestamp", "svix-signature"} <= {k.lower() for k in got[0].headers}
    Webhook(secret).verify(body, got[0].headers)  # raises WebhookVerificationError if not

    # The message's eventId is its idempotency key: a repeat is a 409 and sends nothing.
    with pytest.raises(HttpError) as exc:
        svix.message.create(
            app.id, MessageIn(event_type="invoice.paid", payload={}, event_id="evt-1")
        )
    assert exc.value.status_code == 409
    assert (
        svix.message.get(app.id, "evt-1", MessageGetOptions(with_content=True)).payload == payload
    )

    assert _wait(lambda: Attempt.objects.filter(endpoint_id=ep.id).exists())
    attempts = svix.message_attempt.list_by_msg(app.id, msg.id).data
    assert [a.response_status_code for a in attempts] == [200]
    assert attempts[0].status == 0
    by_endpoint = svix.message_attempt.list_by_endpoint(app.id, ep.id).data
    assert [a.id for a in by_endpoint] == [a.id for a in attempts]
    one = svix.message_attempt.get(app.id, msg.id, attempts[0].id)
    assert one.endpoint_id == ep.id
    assert one.msg_id == msg.id
    assert one.trigger_type == 0
    destinations = svix.message_attempt.list_attempted_destinations(app.id, msg.id).data
    assert [(d.id, d.status) for d in destinations] == [(ep.id, 0)]
    messages = svix.message_attempt.list_attempted_messages(app.id, ep.id).data
    assert [m.id for m in messages] == [msg.id]
    stats = svix.endpoint.get_stats(app.id, ep.id)
    assert (stats.success, stats.fail, stats.pending) == (1, 0, 0)

    # Resend: a second, manual attempt.
    svix.message_attempt.resend(app.id, msg.id, ep.id)
    assert len(receiver.wait_for(2, "/hook")) == 2
    assert _wait(lambda: Attempt.objects.filter(endpoint_id=ep.id).count() == 2)
    triggers = [a.trigger_type for a in svix.message_attempt.list_by_msg(app.id, msg.id).data]
    assert sorted(triggers) == [0, 1]

    # Expunge: the payload is gone from the API and the store.
    svix.message.expunge_content(app.id, msg.id)
    assert svix.message.get(app.id, msg.id, MessageGetOptions(with_content=True)).payload == {
        "expired": True
    }
    assert Event.objects.get(pk=msg.id).body == ""
    with pytest.raises(HttpError) as exc:
        svix.message_attempt.resend(app.id, msg.id, ep.id)
    assert exc.value.status_code == 400
    assert exc.value.code == "missing_payload"
    svix.message_attempt.expunge_content(app.id, msg.id, attempts[0].id)
    assert svix.message_attempt.get(app.id, msg.id, attempts[0].id).response == "EXPUNGED"


@pytest.mark.e2e
def test_channels_filter_who_receives_a_message(svix, receiver, worker):
    app = svix.application.create(ApplicationIn(name="Acme"))
    eu = svix.endpoint.create(app.id, EndpointIn(url=receiver.url("/eu"), channels=["eu"]))
    svix.endpoint.create(app.id, EndpointIn(url=receiver.url("/us"), channels=["us"]))
    svix.endpoint.create(app.id, EndpointIn(url=receiver.url("/all")))
    svix.message.create(app.id, MessageIn(event_type="o.c", payload={"n": 1}, channels=["eu"]))
    svix.message.create(app.id, MessageIn(event_type="o.c", payload={"n": 2}))
    assert len(receiver.wait_for(2, "/all")) == 2
    assert _wait(lambda: Delivery.objects.filter(status="succeeded").count() == 3)
    time.sleep(0.5)
    assert [json.loads(r.body)["n"] for r in receiver.received("/eu")] == [1]
    assert receiver.received("/us") == []
    listed = svix.message.list(app.id, MessageListOptions(channel="eu")).data
    assert len(listed) == 1
    assert svix.message_attempt.list_by_endpoint(
        app.id, eu.id, MessageAttemptListByEndpointOptions(channel="eu")
    ).data


def test_deliver_at_schedules_a_message(svix, receiver, worker):
    app = svix.application.create(ApplicationIn(name="Acme"))
    svix.endpoint.create(app.id, EndpointIn(url=receiver.url("/later")))
    later = datetime.now(UTC) + timedelta(seconds=2)
    msg = svix.message.create(app.id, MessageIn(event_type="o.c", payload={}, deliver_at=later))
    with pytest.raises(HTTPValidationError) as too_far:
        svix.message.create(
            app.id,
            MessageIn(event_type="o.c", payload={}, deliver_at=later + timedelta(days=31)),
        )

    assert abs(msg.deliver_at - later) < timedelta(milliseconds=1)
    assert "at most 30 days ahead" in json.dumps(too_far.value.to_dict())
    assert svix.message.get(app.id, msg.id).deliver_at == msg.deliver_at
    time.sleep(1)
    assert receiver.received("/later") == []  # not yet
    (request,) = receiver.wait_for(1, "/later", timeout=15)
    assert request.headers["svix-id"] == msg.id
    assert _wait(lambda: Attempt.objects.filter(delivery__event_id=msg.id).exists())
    assert Attempt.objects.get(delivery__event_id=msg.id).started_at >= later


def test_message_poller_reads_a_poll_endpoints_feed(svix, worker):
    app = svix.application.create(ApplicationIn(name="Acme", uid="acme-poll"))
    sink, secret = endpoint_create(tenant=Tenant.objects.get(uid="acme-poll"), kind="poll")
    sent = [
        svix.message.create(app.id, MessageIn(event_type="o.c", payload={"n": n})).id
        for n in range(5)
    ]
    assert _wait(lambda: FeedItem.objects.filter(endpoint=sink).count() == 5)

    first = svix.message.poller.poll(app.id, sink.id, MessagePollerPollOptions(limit=3))
    rest = svix.message.poller.poll(
        app.id, sink.id, MessagePollerPollOptions(limit=3, iterator=first.iterator)
    )
    by_consumer = svix.message.poller.consumer_poll(app.id, sink.uid or sink.id, "billing")
    sought = svix.message.poller.consumer_seek(
        app.id, sink.id, "billing", PollingEndpointConsumerSeekIn(after=datetime.now(UTC))
    )
    after_seek = svix.message.poller.consumer_poll(
        app.id, sink.id, "billing", MessagePollerConsumerPollOptions(iterator=sought.iterator)
    )

    assert [m.id for m in first.data] == sent[:3]
    assert not first.done
    assert [m.id for m in rest.data] == sent[3:]
    assert rest.done
    assert [m.id for m in by_consumer.data] == sent
    assert after_seek.data == []
    message = first.data[0]
    assert message.payload == {"n": 0}
    assert message.event_type == "o.c"
    body = json.dumps({"n": 0}, separators=(",", ":")).encode()
    Webhook(secret).verify(body, message.headers)  # raises WebhookVerificationError if not
    with pytest.raises(HttpError) as not_a_sink:
        svix.message.poller.poll(app.id, "ep_missing")
    assert not_a_sink.value.status_code == 404


@pytest.mark.e2e
def test_recover_send_example_and_portal_access(svix, receiver, worker, server_url):
    app = svix.application.create(ApplicationIn(name="Acme"))
    svix.event_type.create(
        EventTypeIn(
            name="user.created",
            description="",
            schemas={"1": {"type": "object", "examples": [{"user": "ada"}]}},
        )
    )
    ep = svix.endpoint.create(app.id, EndpointIn(url=receiver.url("/status/500")))
    svix.message.create(app.id, MessageIn(event_type="user.created", payload={"user": "bob"}))
    assert _wait(lambda: Delivery.objects.filter(endpoint_id=ep.id, status="failed").exists())

    svix.endpoint.patch(app.id, ep.id, EndpointPatch(url=receiver.url("/ok")))
    since = datetime.now(UTC) - timedelta(hours=1)
    task = svix.endpoint.recover(app.id, ep.id, RecoverIn(since=since))
    assert task.id.startswith("qtask_")
    assert task.task.value == "endpoint.recover"
    assert _wait(lambda: Delivery.objects.filter(endpoint_id=ep.id, status="succeeded").exists())
    assert [json.loads(r.body) for r in receiver.received("/ok")] == [{"user": "bob"}]

    example = svix.endpoint.send_example(app.id, ep.id, EventExampleIn(event_type="user.created"))
    assert example.payload == {"user": "ada"}
    ping = svix.endpoint.send_example(app.id, ep.id, EventExampleIn(event_type="svix.ping"))
    assert ping.payload == {"success": True}
    assert len(receiver.wait_for(3, "/ok")) == 3

    access = svix.authentication.app_portal_access(app.id, AppPortalAccessIn())
    assert access.token
    assert access.url.startswith(server_url)
    # The key is in the URL's fragment (never sent to a server); the page posts it.
    opener, _, key = access.url.partition("#")
    assert key == access.token
    page = httpx.get(opener, follow_redirects=True)
    assert page.status_code == 200
    assert key not in page.text


def test_read_only_portal_access_and_expire_all(svix, server_url):
    """``readOnly`` makes a link that looks and changes nothing; ``expire_all`` ends every link
    of the application (and the sessions they opened), or only those of the given sessions."""
    from endpoints.portal import portal_token_verify

    app = svix.application.create(ApplicationIn(name="Portal"))
    looker = svix.authentication.app_portal_access(
        app.id, AppPortalAccessIn(read_only=True, session_id="s-1")
    )
    keeper = svix.authentication.app_portal_access(app.id, AppPortalAccessIn(session_id="s-2"))
    assert portal_token_verify(looker.token).read_only
    assert not portal_token_verify(keeper.token).read_only

    svix.authentication.expire_all(app.id, ApplicationTokenExpireIn(session_ids=["s-1"]))
    assert portal_token_verify(looker.token) is None
    assert portal_token_verify(keeper.token) is not None

    svix.authentication.expire_all(app.id, ApplicationTokenExpireIn())
    assert portal_token_verify(keeper.token) is None
    with pytest.raises(HttpError) as missing:
        svix.authentication.expire_all("app_nobody", ApplicationTokenExpireIn())
    assert missing.value.status_code == 404


@pytest.mark.e2e
def test_a_message_may_create_its_application(svix, receiver, worker):
    svix.message.create(
        "new-app",
        MessageIn(
            event_type="hello",
            payload={"hi": True},
            application=ApplicationIn(name="Made by a message", uid="new-app"),
        ),
        MessageCreateOptions(with_content=True),
    )
    assert svix.application.get("new-app").name == "Made by a message"
    with pytest.raises(HTTPValidationError) as exc:
        svix.message.create(
            "other-app",
            MessageIn(event_type="hello", payload={}, application=ApplicationIn(name="x", uid="y")),
        )
    assert exc.value.detail[0].type == "application_uid_mismatch"
    with pytest.raises(HttpError) as exc:
        svix.message.create("missing-app", MessageIn(event_type="hello", payload={}))
    assert exc.value.status_code == 404


# --- null for what is not given (what the SDK sends for a field set to None) -------------------


def _all_null(model, **given):  # type: ignore[no-untyped-def]
    """``model`` with every optional field the caller did not give set to None explicitly, so
    the SDK sends ``"field": null`` for each (its own tests build models this way)."""
    nulls = {name: None for name, f in model.model_fields.items() if not f.is_required()}
    return model(**{**nulls, **given})


def test_null_in_every_optional_field_means_not_given(svix, receiver):
    app = svix.application.create(_all_null(ApplicationIn, name="Acme"))
    assert app.metadata == {}
    assert app.uid is None
    patched_app = svix.application.patch(app.id, _all_null(ApplicationPatch, name="Acme 2"))
    assert patched_app.name == "Acme 2"
    assert svix.application.upsert("nulls", _all_null(ApplicationIn, name="Up")).uid == "nulls"

    svix.event_type.create(_all_null(EventTypeIn, name="order.created", description="Orders"))
    typed = svix.event_type.patch("order.created", _all_null(EventTypePatch))
    assert typed.description == "Orders"
    assert typed.archived is False

    ep = svix.endpoint.create(app.id, _all_null(EndpointIn, url=receiver.url("/ok")))
    assert ep.metadata == {}
    assert ep.disabled is False
    assert ep.description == ""
    assert svix.endpoint.get_secret(app.id, ep.id).key.startswith("whsec_")
    patched = svix.endpoint.patch(app.id, ep.id, _all_null(EndpointPatch, description="New"))
    assert patched.description == "New"
    assert patched.url == ep.url
    upserted = svix.endpoint.upsert(app.id, ep.id, _all_null(EndpointUpsertIn, url=ep.url))
    assert upserted.description == ""
    svix.endpoint.rotate_secret(app.id, ep.id, _all_null(EndpointSecretRotateIn))
    svix.endpoint.patch_headers(
        app.id, ep.id, _all_null(EndpointHeadersPatchIn, headers={"X-Team": "a"})
    )
    assert svix.endpoint.get_headers(app.id, ep.id).headers == {"X-Team": "a"}
    svix.endpoint.recover(
        app.id, ep.id, _all_null(RecoverIn, since=datetime.now(UTC) - timedelta(hours=1))
    )

    message = svix.message.create(
        app.id, _all_null(MessageIn, event_type="order.created", payload={"n": 1})
    )
    assert Event.objects.get(pk=message.id).payload == {"n": 1}
    assert message.event_id is None
    assert message.channels is None

    access = svix.authentication.app_portal_access(app.id, _all_null(AppPortalAccessIn))
    assert access.token
    svix.authentication.expire_all(app.id, _all_null(ApplicationTokenExpireIn))
