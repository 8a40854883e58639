"""Endpoints: CRUD, secrets, rotation, and the bad inputs the service rejects."""

import pytest

from endpoints.models import AuditEntry, Endpoint, EndpointSecret
from endpoints.services import endpoint_secret_current, event_type_archive

from .support import assert_error

pytestmark = pytest.mark.django_db

BASE = "/api/v1/tenants/acme/endpoints/"


def test_create_returns_the_secret_once(api_a, invoice_paid):
    response = api_a.post(
        BASE,
        {
            "url": "http://127.0.0.1:9/hooks",
            "description": "billing",
            "event_types": ["invoice.paid"],
            "headers": {"X-Env": "test"},
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    endpoint = Endpoint.objects.get(pk=body["id"])
    assert body["secret"] == endpoint_secret_current(endpoint=endpoint)
    assert body["secret"].startswith("whsec_")
    assert body["url"] == "http://127.0.0.1:9/hooks"
    assert body["event_types"] == ["invoice.paid"]
    assert body["headers"] == {"X-Env": "test"}
    assert body["enabled"] is True
    detail = api_a.get(f"{BASE}{endpoint.pk}/").json()
    assert "secret" not in detail
    assert body["secret"] not in str(detail)
    listed = api_a.get(BASE).json()
    assert body["secret"] not in str(listed)


def test_secret_route_returns_the_current_secret(api_a, endpoint_a):
    response = api_a.get(f"{BASE}{endpoint_a.pk}/secret/")

    assert response.status_code == 200
    assert response.json() == {"secret": endpoint_secret_current(endpoint=endpoint_a)}


def test_list_shows_the_tenants_endpoints(api_a, endpoint_a, endpoint_b):
    response = api_a.get(BASE)

    assert response.status_code == 200
    assert [e["id"] for e in response.json()["data"]] == [endpoint_a.pk]


def test_patch_updates_fields(api_a, endpoint_a, user_created):
    response = api_a.patch(
        f"{BASE}{endpoint_a.pk}/",
        {"description": "new", "event_types": ["user.created"]},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["description"] == "new"
    assert response.json()["event_types"] == ["user.created"]
    entry = AuditEntry.objects.get(action="endpoint.update")
    assert entry.target_id == endpoint_a.pk
    assert entry.details["event_types"] == {"added": ["user.created"]}
    assert entry.details["description"].endswith("→ new")


def test_create_is_audited(api_a, invoice_paid):
    response = api_a.post(BASE, {"url": "https://hooks.example.com/x"}, format="json")

    entry = AuditEntry.objects.get(action="endpoint.create")
    assert (entry.target_id, entry.details) == (
        response.json()["id"],
        {"url": "https://hooks.example.com/x"},
    )


def test_patch_disable_and_enable_are_audited(api_a, endpoint_a):
    disabled = api_a.patch(f"{BASE}{endpoint_a.pk}/", {"enabled": False}, format="json")
    enabled = api_a.patch(f"{BASE}{endpoint_a.pk}/", {"enabled": True}, format="json")

    assert disabled.json()["enabled"] is False
    assert disabled.json()["disabled_reason"] == "disabled by user"
    assert enabled.json()["enabled"] is True
    actions = list(
        AuditEntry.objects.filter(target_id=endpoint_a.pk)
        .order_by("id")
        .values_list("action", "api_key__name")
    )
    assert actions == [("endpoint.disable", "acme key"), ("endpoint.enable", "acme key")]


def test_delete_hides_the_endpoint_and_is_audited(api_a, endpoint_a):
    response = api_a.delete(f"{BASE}{endpoint_a.pk}/")

    assert response.status_code == 204
    assert api_a.get(f"{BASE}{endpoint_a.pk}/").status_code == 404
    assert Endpoint.objects.get(pk=endpoint_a.pk).deleted_at is not None
    assert AuditEntry.objects.get(target_id=endpoint_a.pk).action == "endpoint.delete"


def test_rotate_keeps_the_old_secret_for_the_grace_period(api_a, endpoint_a):
    old = endpoint_secret_current(endpoint=endpoint_a)

    response = api_a.post(
        f"{BASE}{endpoint_a.pk}/secret/rotate/", {"grace_period_seconds": 3600}, format="json"
    )

    assert response.status_code == 204
    new = api_a.get(f"{BASE}{endpoint_a.pk}/secret/").json()["secret"]
    assert new != old
    secrets = EndpointSecret.objects.filter(endpoint=endpoint_a).order_by("id")
    assert [s.expires_at is None for s in secrets] == [False, True]
    entry = AuditEntry.objects.get(target_id=endpoint_a.pk)
    assert (entry.action, entry.details) == (
        "endpoint.secret_rotate",
        {"grace_period_seconds": 3600},
    )


@pytest.mark.parametrize("grace", [-1, 604801, "soon"])
def test_rotate_rejects_a_grace_period_out_of_range(api_a, endpoint_a, grace):
    response = api_a.post(
        f"{BASE}{endpoint_a.pk}/secret/rotate/", {"grace_period_seconds": grace}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["grace_period_seconds"]
    assert EndpointSecret.objects.filter(endpoint=endpoint_a).count() == 1


def test_malformed_json_is_a_parse_error(api_a, tenant):
    response = api_a.post(BASE, '{"url": ', content_type="application/json")

    error = assert_error(response, 400, "parse_error")
    assert "JSON parse error" in error["message"]


def test_a_json_array_body_is_rejected(api_a, tenant):
    response = api_a.post(BASE, [1, 2], format="json")

    error = assert_error(response, 400, "validation_error")
    assert error["message"] == "The request body must be a JSON object."


def test_a_form_body_is_415(api_a, tenant):
    response = api_a.post(BASE, {"url": "http://127.0.0.1:9/"}, format="multipart")

    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": 123}, "url"),
        ({"url": "http://127.0.0.1:9/", "event_types": "invoice.paid"}, "event_types"),
        ({"url": "http://127.0.0.1:9/", "headers": ["X-A"]}, "headers"),
        ({"url": "http://127.0.0.1:9/", "headers": {"X-A": 1}}, "headers"),
        ({"url": "http://127.0.0.1:9/", "enabled": "maybe"}, "enabled"),
        ({}, "url"),
    ],
)
def test_wrong_types_name_the_field(api_a, tenant, body, field):
    response = api_a.post(BASE, body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == [field]
    assert error["message"].startswith(f"{field}")
    assert not Endpoint.objects.exists()


def test_an_unknown_event_type_is_rejected(api_a, tenant):
    response = api_a.post(
        BASE, {"url": "http://127.0.0.1:9/", "event_types": ["nope.never"]}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"event_types": ["Unknown event types: nope.never."]}
    assert not Endpoint.objects.exists()


def test_an_archived_event_type_is_rejected(api_a, invoice_paid):
    event_type_archive(event_type=invoice_paid)

    response = api_a.post(
        BASE, {"url": "http://127.0.0.1:9/", "event_types": ["invoice.paid"]}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"event_types": ["Archived event types: invoice.paid."]}


def test_loopback_is_forbidden_under_production_settings(api_a, tenant, settings):
    settings.WEBHOOKS_ALLOWED_SUBNETS = []

    response = api_a.post(BASE, {"url": "http://127.0.0.1:9/hooks"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["url"]
    assert "127.0.0.1" in error["message"]
    assert not Endpoint.objects.exists()


def test_a_name_resolving_to_a_private_address_is_forbidden(api_a, tenant, dns):
    dns["internal.test"] = ["10.0.0.7"]

    response = api_a.post(BASE, {"url": "https://internal.test/hooks"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["url"]
    assert "10.0.0.7" in error["message"]


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/hooks", "http://user:pass@127.0.0.1:9/hooks", "not a url"]
)
def test_invalid_urls_are_rejected(api_a, tenant, url):
    response = api_a.post(BASE, {"url": url}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["url"]


def test_oversized_headers_are_rejected(api_a, tenant):
    headers = {"X-Big": "x" * 9000}

    response = api_a.post(BASE, {"url": "http://127.0.0.1:9/", "headers": headers}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert error["fields"]["headers"] == ["Custom headers total 9005 bytes; the limit is 8192."]


def test_reserved_headers_are_rejected(api_a, tenant):
    response = api_a.post(
        BASE,
        {"url": "http://127.0.0.1:9/", "headers": {"webhook-signature": "forged"}},
        format="json",
    )

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["headers"]


def test_rate_limit_is_set_shown_and_cleared(api_a):
    created = api_a.post(
        BASE, {"url": "http://127.0.0.1:9/hooks", "rate_limit": 25}, format="json"
    ).json()
    assert created["rate_limit"] == 25
    assert created["circuit_state"] == "closed"
    assert created["consecutive_failures"] == 0

    cleared = api_a.patch(f"{BASE}{created['id']}/", {"rate_limit": None}, format="json")

    assert cleared.status_code == 200
    assert cleared.json()["rate_limit"] is None
    assert Endpoint.objects.get(pk=created["id"]).rate_limit is None


@pytest.mark.parametrize("value", [0, 10_001, "fast", 1.5])
def test_bad_rate_limits_are_400(api_a, value):
    response = api_a.post(BASE, {"url": "http://127.0.0.1:9/h", "rate_limit": value}, format="json")
    error = assert_error(response, 400, "validation_error")
    assert "rate_limit" in error["fields"]


def test_an_open_circuit_is_visible(api_a):
    created = api_a.post(BASE, {"url": "http://127.0.0.1:9/hooks"}, format="json").json()
    Endpoint.objects.filter(pk=created["id"]).update(circuit_state="open", consecutive_failures=12)

    body = api_a.get(f"{BASE}{created['id']}/").json()

    assert (body["circuit_state"], body["consecutive_failures"]) == ("open", 12)


def test_circuit_reset_closes_the_circuit_and_is_audited(api_a, endpoint_a):
    from django.utils import timezone

    Endpoint.objects.filter(pk=endpoint_a.pk).update(
        circuit_state="open", circuit_next_probe_at=timezone.now(), consecutive_failures=12
    )

    response = api_a.post(f"{BASE}{endpoint_a.pk}/circuit-reset/", format="json")

    assert response.status_code == 200
    assert response.json() == {"released": 0}
    endpoint_a.refresh_from_db()
    assert (endpoint_a.circuit_state, endpoint_a.consecutive_failures) == ("closed", 0)
    assert AuditEntry.objects.get(target_id=endpoint_a.pk).action == "endpoint.circuit_reset"


def test_circuit_reset_of_a_disabled_endpoint_is_a_clear_400(api_a, endpoint_a):
    Endpoint.objects.filter(pk=endpoint_a.pk).update(enabled=False)

    response = api_a.post(f"{BASE}{endpoint_a.pk}/circuit-reset/", format="json")

    assert response.status_code == 400
    assert "disabled" in response.content.decode()


def test_signature_style_is_set_shown_changed_and_checked(api_a):
    created = api_a.post(
        BASE, {"url": "http://127.0.0.1:9/hooks", "signature_style": "github"}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["signature_style"] == "github"
    detail = f"{BASE}{created.json()['id']}/"

    changed = api_a.patch(detail, {"signature_style": "stripe"}, format="json")
    bad = api_a.patch(detail, {"signature_style": "paypal"}, format="json")

    assert changed.status_code == 200
    assert changed.json()["signature_style"] == "stripe"
    error = assert_error(bad, 400, "validation_error")
    assert list(error["fields"]) == ["signature_style"]
    assert api_a.get(detail).json()["signature_style"] == "stripe"
    plain = api_a.post(BASE, {"url": "http://127.0.0.1:9/plain"}, format="json").json()
    assert plain["signature_style"] == "standard"


def test_an_ed25519_endpoint_shows_its_public_key_and_never_the_signing_key(api_a):
    created = api_a.post(
        BASE, {"url": "http://127.0.0.1:9/hooks", "signature_style": "ed25519"}, format="json"
    )
    detail = f"{BASE}{created.json()['id']}/"
    shown = api_a.get(f"{detail}secret/").json()["secret"]
    rotated = api_a.post(f"{detail}secret/rotate/", {}, format="json")
    after = api_a.get(f"{detail}secret/").json()["secret"]
    bad_key = api_a.post(
        BASE,
        {
            "url": "http://127.0.0.1:9/k",
            "signature_style": "ed25519",
            "secret": "whsec_" + "A" * 40,
        },
        format="json",
    )

    assert created.status_code == 201
    assert created.json()["secret"].startswith("whpk_")
    assert shown == created.json()["secret"]
    assert rotated.status_code == 204
    assert after.startswith("whpk_")
    assert after != shown
    assert "whsk_" not in created.content.decode()
    error = assert_error(bad_key, 400, "validation_error")
    assert "whsk_" in error["fields"]["secret"][0]


def test_a_payload_filter_is_set_shown_checked_and_cleared(api_a):
    spec = {"data.amount": {"$gte": 1000}}
    created = api_a.post(BASE, {"url": "http://127.0.0.1:9/f", "filter": spec}, format="json")
    detail = f"{BASE}{created.json()['id']}/"
    bad = api_a.patch(detail, {"filter": {"data.amount": {"$gtt": 1}}}, format="json")
    not_object = api_a.patch(detail, {"filter": [1]}, format="json")
    shown = api_a.get(detail).json()["filter"]
    cleared = api_a.patch(detail, {"filter": None}, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["filter"] == spec
    error = assert_error(bad, 400, "validation_error")
    assert "unknown operator '$gtt'" in error["fields"]["filter"][0]
    assert (
        "a JSON object" in assert_error(not_object, 400, "validation_error")["fields"]["filter"][0]
    )
    assert shown == spec
    assert cleared.json()["filter"] is None
    assert Endpoint.objects.get(pk=created.json()["id"]).payload_filter is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"data.note": "a\u0000b"}, "filter.data.note: a NUL character (\\u0000) is not allowed"),
        ({"$or": [{"data.n\u0000": 1}]}, "filter.$or[0]: the key 'data.n\\x00' holds a NUL"),
        (
            {f"data.f{n}": {"$regex": "x"} for n in range(12)},
            "filter.data.f10.$regex: a filter holds at most 10 $regex patterns (12 given)",
        ),
        (
            {"data.note": {"$regex": "\\pL{380}\\pN"}},
            "filter.data.note.$regex: the pattern is too complex",
        ),
    ],
)
def test_a_filter_with_a_nul_or_too_costly_is_refused_with_400(api_a, spec, message):
    """A NUL reached PostgreSQL's jsonb and came back as a 500; now no backend stores one."""
    created = api_a.post(BASE, {"url": "http://127.0.0.1:9/f", "filter": spec}, format="json")
    kept = api_a.post(BASE, {"url": "http://127.0.0.1:9/g"}, format="json")
    patched = api_a.patch(f"{BASE}{kept.json()['id']}/", {"filter": spec}, format="json")

    for response in (created, patched):
        assert assert_error(response, 400, "validation_error")["fields"]["filter"][0].startswith(
            message
        )
    assert Endpoint.objects.get(pk=kept.json()["id"]).payload_filter is None
    assert Endpoint.objects.count() == 1


def test_a_retry_schedule_is_set_shown_checked_and_cleared(api_a):
    created = api_a.post(
        BASE, {"url": "http://127.0.0.1:9/r", "retry_schedule": [10, 600]}, format="json"
    )
    detail = f"{BASE}{created.json()['id']}/"
    too_soon = api_a.patch(detail, {"retry_schedule": [0.5]}, format="json")
    not_list = api_a.patch(detail, {"retry_schedule": "10s"}, format="json")
    too_many = api_a.patch(detail, {"retry_schedule": [60] * 31}, format="json")
    shown = api_a.get(detail).json()["retry_schedule"]
    single = api_a.patch(detail, {"retry_schedule": []}, format="json")
    cleared = api_a.patch(detail, {"retry_schedule": None}, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["retry_schedule"] == [10, 600]
    for bad in (too_soon, not_list, too_many):
        assert "retry_schedule" in assert_error(bad, 400, "validation_error")["fields"]
    assert shown == [10, 600]  # nothing lost to the refused changes
    assert single.json()["retry_schedule"] == []
    assert cleared.json()["retry_schedule"] is None
    endpoint = Endpoint.objects.get(pk=created.json()["id"])
    assert endpoint.retry_schedule is None
    changes = AuditEntry.objects.filter(target_id=endpoint.pk, action="endpoint.update")
    assert [e.details["retry_schedule"] for e in changes.order_by("id")] == [
        "10s, 10m → none",
        "none → inherited",
    ]


def test_ordered_is_set_shown_and_changed(api_a):
    created = api_a.post(BASE, {"url": "http://127.0.0.1:9/o", "ordered": True}, format="json")
    detail = f"{BASE}{created.json()['id']}/"
    not_bool = api_a.patch(detail, {"ordered": "sometimes"}, format="json")
    off = api_a.patch(detail, {"ordered": False}, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["ordered"] is True
    assert "ordered" in assert_error(not_bool, 400, "validation_error")["fields"]
    assert off.json()["ordered"] is False
    assert (
        api_a.post(BASE, {"url": "http://127.0.0.1:9/p"}, format="json").json()["ordered"] is False
    )
    change = AuditEntry.objects.get(target_id=created.json()["id"], action="endpoint.update")
    assert change.details["ordered"] == "True → False"
