"""Per-tenant and per-key bounds (hardening issue, item 8): an endpoint cap, an API rate per key,
and an endpoint list that pages."""

import pytest
from django.urls import reverse

from deliveries.services.endpoint_lifecycle import endpoint_delete
from endpoints.models import Endpoint
from endpoints.services import endpoint_create
from tests.dashboard.conftest import make_user
from tests.ops.test_metrics import TOKEN, delta, scrape
from tests.workers import free_port

from .support import assert_error

pytestmark = pytest.mark.django_db


def test_a_tenant_cannot_have_more_endpoints_than_the_cap(settings, api_a, tenant):
    settings.WEBHOOKS_MAX_ENDPOINTS_PER_TENANT = 2
    first, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/1")
    endpoint_create(tenant=tenant, url="http://127.0.0.1:9/2")

    response = api_a.post(
        "/api/v1/tenants/acme/endpoints/", {"url": "http://127.0.0.1:9/3"}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert "WEBHOOKS_MAX_ENDPOINTS_PER_TENANT" in error["message"]
    assert Endpoint.objects.filter(tenant=tenant).count() == 2
    endpoint_delete(endpoint=first)  # a deleted endpoint frees its place
    again = api_a.post(
        "/api/v1/tenants/acme/endpoints/", {"url": "http://127.0.0.1:9/3"}, format="json"
    )
    assert again.status_code == 201


def test_each_api_key_has_its_own_request_rate(settings, api_a, client_for, key_b):
    settings.WEBHOOKS_API_RATE_LIMIT = 3
    for _ in range(3):
        assert api_a.get("/api/v1/tenants/acme/endpoints/").status_code == 200

    response = api_a.get("/api/v1/tenants/acme/endpoints/")

    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    assert client_for(key_b).get("/api/v1/tenants/globex/endpoints/").status_code == 200
    svix = api_a.get("/api/v1/app/acme/endpoint")
    assert svix.status_code == 429
    assert svix.json()["code"] == "rate_limited"


def test_the_endpoint_list_page_pages(client, tenant):
    for n in range(55):
        endpoint_create(tenant=tenant, url=f"http://127.0.0.1:9/{n}")
    client.force_login(make_user("pat", tenants=(tenant,)))

    first = client.get(reverse("endpoint-list")).content.decode()

    assert first.count('<td class="url">') == 50
    assert "55 endpoints" in first
    assert 'id="next-page"' in first
    next_href = first.split('id="next-page"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = client.get(reverse("endpoint-list") + next_href.replace("&amp;", "&")).content
    assert second.decode().count('<td class="url">') == 5


def test_an_unreachable_cache_lets_requests_through_counted_in_a_metric(
    settings, api_a, tenant, caplog
):
    # given the cache behind the rate limit is a Redis that is not answering (restarting)
    settings.WEBHOOKS_API_RATE_LIMIT = 2
    settings.WEBHOOKS_METRICS_TOKEN = TOKEN
    before = scrape()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }

    answers = [api_a.get("/api/v1/tenants/acme/endpoints/").status_code for _ in range(3)]

    assert answers == [200, 200, 200]  # uncounted: the limit of 2 cannot be applied
    assert "the cache is unreachable" in caplog.text
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert delta(before, scrape(), "webhooks_cache_unavailable_total", use="throttle") == 3
