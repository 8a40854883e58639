"""The OpenAPI document and its browsable docs."""

import pytest
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db


def test_schema_is_valid_openapi_3_with_every_route(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A platform or tenant API key, as made by `manage.py create_api_key`.",
    }
    assert {
        "/api/v1/event-types/",
        "/api/v1/event-types/{name}/",
        "/api/v1/tenants/",
        "/api/v1/tenants/{tenant}/",
        "/api/v1/tenants/{tenant}/portal-links/",
        "/api/v1/tenants/{tenant}/portal-links/{link}/",
        "/api/v1/tenants/{tenant}/endpoints/",
        "/api/v1/tenants/{tenant}/endpoints/{endpoint}/",
        "/api/v1/tenants/{tenant}/endpoints/{endpoint}/secret/",
        "/api/v1/tenants/{tenant}/endpoints/{endpoint}/secret/rotate/",
        "/api/v1/tenants/{tenant}/endpoints/{endpoint}/circuit-reset/",
        "/api/v1/tenants/{tenant}/endpoints/{endpoint}/test/",
        "/api/v1/tenants/{tenant}/endpoints/{endpoint}/recover/",
        "/api/v1/tenants/{tenant}/endpoints/{endpoint}/stats/",
        "/api/v1/tenants/{tenant}/endpoints/{endpoint}/transformation/",
        "/api/v1/tenants/{tenant}/endpoints/{endpoint}/transformation/simulate/",
        "/api/v1/tenants/{tenant}/jobs/{job}/",
        "/api/v1/tenants/{tenant}/events/",
        "/api/v1/tenants/{tenant}/events/batch",
        "/api/v1/tenants/{tenant}/events/{event}/",
        "/api/v1/tenants/{tenant}/deliveries/",
        "/api/v1/tenants/{tenant}/deliveries/{delivery}/",
        "/api/v1/tenants/{tenant}/deliveries/{delivery}/attempts/",
        "/api/v1/tenants/{tenant}/deliveries/{delivery}/replay/",
        "/api/v1/tenants/{tenant}/pollers/{endpoint}/",
        "/api/v1/tenants/{tenant}/pollers/{endpoint}/consumers/",
        "/api/v1/tenants/{tenant}/pollers/{endpoint}/consumers/{consumer}/",
        "/api/v1/tenants/{tenant}/pollers/{endpoint}/consumers/{consumer}/seek",
        # The Svix-compatible surface, as its SDKs call it (no trailing slash).
        "/api/v1/app",
        "/api/v1/app/{app}",
        "/api/v1/app/{app}/attempt/endpoint/{endpoint}",
        "/api/v1/app/{app}/attempt/msg/{msg}",
        "/api/v1/app/{app}/endpoint",
        "/api/v1/app/{app}/endpoint/{endpoint}",
        "/api/v1/app/{app}/endpoint/{endpoint}/headers",
        "/api/v1/app/{app}/endpoint/{endpoint}/msg",
        "/api/v1/app/{app}/endpoint/{endpoint}/recover",
        "/api/v1/app/{app}/endpoint/{endpoint}/secret",
        "/api/v1/app/{app}/endpoint/{endpoint}/secret/rotate",
        "/api/v1/app/{app}/endpoint/{endpoint}/send-example",
        "/api/v1/app/{app}/endpoint/{endpoint}/stats",
        "/api/v1/app/{app}/endpoint/{endpoint}/transformation",
        "/api/v1/app/{app}/endpoint/{endpoint}/transformation/simulate",
        "/api/v1/app/{app}/msg",
        "/api/v1/app/{app}/msg/{msg}",
        "/api/v1/app/{app}/msg/{msg}/attempt/{attempt}",
        "/api/v1/app/{app}/poller/{sink}",
        "/api/v1/app/{app}/poller/{sink}/consumer/{consumer}",
        "/api/v1/app/{app}/poller/{sink}/consumer/{consumer}/seek",
        "/api/v1/app/{app}/msg/{msg}/attempt/{attempt}/content",
        "/api/v1/app/{app}/msg/{msg}/content",
        "/api/v1/app/{app}/msg/{msg}/endpoint",
        "/api/v1/app/{app}/msg/{msg}/endpoint/{endpoint}/resend",
        "/api/v1/auth/app-portal-access/{app}",
        "/api/v1/auth/dashboard-access/{app}",
        "/api/v1/auth/app/{app}/expire-all",
        "/api/v1/event-type",
        "/api/v1/event-type/{name}",
        "/api/v1/health",
    } == set(schema["paths"])


def test_docs_load_swagger_ui_from_this_server_not_a_cdn(client):
    response = client.get("/api/docs/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn.jsdelivr.net" not in html
