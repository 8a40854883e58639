import pytest
from django.core.exceptions import ValidationError

from deliveries.services.endpoint_lifecycle import endpoint_update
from endpoints.services import (
    endpoint_create,
    endpoint_headers_validate,
    event_type_create,
    tenant_create,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("slug", "message"),
    [("Bad Slug", "lowercase"), ("-x", "lowercase"), ("123", "only digits"), ("", "lowercase")],
)
def test_tenant_slug_rules(slug, message):
    with pytest.raises(ValidationError, match=message):
        tenant_create(slug=slug)


def test_duplicate_tenant_slug(tenant):
    with pytest.raises(ValidationError, match="already exists"):
        tenant_create(slug="acme")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "has space"}, "dotted name"),
        ({"name": "x.y", "schema": {"type": "nonsense"}}, "Not a valid JSON Schema"),
        ({"name": "x.y", "schema": [1]}, "JSON object"),
        (
            {"name": "x.y", "schema": {"type": "object", "required": ["a"]}, "example": {}},
            "example does not match",
        ),
    ],
)
def test_event_type_validation(db, kwargs, message):
    with pytest.raises(ValidationError, match=message):
        event_type_create(**kwargs)


def test_forbidden_url_is_refused_with_the_reason(tenant, settings):
    settings.WEBHOOKS_ALLOWED_SUBNETS = []
    with pytest.raises(ValidationError, match="127.0.0.1 is a loopback address"):
        endpoint_create(tenant=tenant, url="http://127.0.0.1:8000/hook")


def test_hostname_resolving_inside_is_refused(tenant, dns):
    dns["intranet.test"] = ["192.168.0.10"]
    with pytest.raises(ValidationError, match=r"intranet.test resolves to a private address"):
        endpoint_create(tenant=tenant, url="https://intranet.test/hook")


def test_https_required_when_configured(tenant, settings):
    settings.WEBHOOKS_REQUIRE_HTTPS = True
    with pytest.raises(ValidationError, match="must be https"):
        endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")


def test_unknown_and_archived_event_types_are_refused(tenant, invoice_paid):
    with pytest.raises(ValidationError, match="Unknown event types: nope.x"):
        endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x", event_types=["nope.x"])
    invoice_paid.archived = True
    invoice_paid.save()
    with pytest.raises(ValidationError, match="Archived event types: invoice.paid"):
        endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x", event_types=["invoice.paid"])


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Content-Type": "text/plain"}, "set by the platform"),
        ({"webhook-signature": "v1,forged"}, "set by the platform"),
        ({"User-Agent": "me"}, "set by the platform"),
        ({"bad header": "x"}, "not a valid header name"),
        ({"X-A": "line\r\nbreak"}, "line break"),
        ({"X-A": 5}, "must be a string"),
        ({f"X-{i}": "v" for i in range(21)}, "At most 20"),
        ({"X-Big": "v" * 9000}, "the limit is 8192"),
        (["X-A"], "object of header name"),
    ],
)
def test_custom_header_rules(headers, message):
    with pytest.raises(ValidationError, match=message):
        endpoint_headers_validate(headers)


def test_update_revalidates_the_url(tenant, settings):
    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/x")
    settings.WEBHOOKS_ALLOWED_SUBNETS = []
    with pytest.raises(ValidationError, match="loopback"):
        endpoint_update(endpoint=endpoint, url="http://127.0.0.2/x")


def test_update_keeps_a_subscription_to_a_type_archived_since(tenant, invoice_paid, user_created):
    endpoint, _ = endpoint_create(
        tenant=tenant, url="http://127.0.0.1:9/x", event_types=["invoice.paid"]
    )
    invoice_paid.archived = True
    invoice_paid.save()

    endpoint_update(endpoint=endpoint, event_types=["invoice.paid", "user.created"])

    assert sorted(endpoint.event_types.values_list("name", flat=True)) == [
        "invoice.paid",
        "user.created",
    ]
