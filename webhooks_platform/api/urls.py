"""The REST API's URL map: ``/api/v1/...``, the OpenAPI document and its browsable docs.

Each table lists (path under its prefix, view class, URL name) in resolution order."""

from __future__ import annotations

from csp.decorators import csp_update
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.views import APIView

from deliveries.api import views as deliveries_views
from deliveries.api import views_endpoints, views_feed
from endpoints.api import views as endpoints_views
from endpoints.api import views_transformations

# Registers the Bearer scheme with drf-spectacular before the schema is generated.
from . import authentication  # noqa: F401

T = "tenants/<str:tenant>/"
EP = f"{T}endpoints/<str:endpoint>/"
POLLER = f"{T}pollers/<str:endpoint>/"

Route = tuple[str, type[APIView], str | None]


def routes(prefix: str, *table: Route) -> list[URLPattern]:
    return [path(prefix + route, view.as_view(), name=name) for route, view, name in table]


v1 = [
    *routes(
        "",
        ("event-types/", endpoints_views.EventTypeListView, "event-types"),
        ("event-types/<str:name>/", endpoints_views.EventTypeDetailView, "event-type-detail"),
        ("tenants/", endpoints_views.TenantListView, "tenants"),
    ),
    *routes(
        T,
        ("", endpoints_views.TenantDetailView, "tenant-detail"),
        ("portal-links/", endpoints_views.PortalLinkView, "portal-links"),
        ("portal-links/<str:link>/", endpoints_views.PortalLinkDetailView, "portal-link-detail"),
        ("endpoints/", endpoints_views.EndpointListView, "endpoints"),
    ),
    *routes(
        EP,
        ("", views_endpoints.EndpointDetailView, "endpoint-detail"),
        ("secret/", endpoints_views.EndpointSecretView, "endpoint-secret"),
        ("secret/rotate/", endpoints_views.EndpointSecretRotateView, "endpoint-secret-rotate"),
        ("circuit-reset/", views_endpoints.EndpointCircuitResetView, "endpoint-circuit-reset"),
        ("transformation/", views_transformations.TransformationView, "endpoint-transformation"),
        (
            "transformation/simulate/",
            views_transformations.TransformationSimulateView,
            "endpoint-transformation-simulate",
        ),
        ("test/", deliveries_views.EndpointTestView, "endpoint-test"),
        ("recover/", deliveries_views.EndpointRecoverView, "endpoint-recover"),
        ("stats/", deliveries_views.EndpointStatsView, "endpoint-stats"),
    ),
    *routes(
        POLLER,
        ("", views_feed.FeedView, "poller"),
        ("consumers/", views_feed.ConsumerListView, "poller-consumers"),
        ("consumers/<str:consumer>/", views_feed.ConsumerView, "poller-consumer"),
        ("consumers/<str:consumer>/seek", views_feed.ConsumerSeekView, "poller-consumer-seek"),
    ),
    *routes(
        T,
        ("jobs/<str:job>/", deliveries_views.JobDetailView, "job-detail"),
        ("events/", deliveries_views.EventListView, "events"),
        ("events/batch", deliveries_views.EventBatchView, "events-batch"),
        ("events/batch/", deliveries_views.EventBatchSlashView, None),
        ("events/<str:event>/", deliveries_views.EventDetailView, "event-detail"),
        ("deliveries/", deliveries_views.DeliveryListView, "deliveries"),
        ("deliveries/<str:delivery>/", deliveries_views.DeliveryDetailView, "delivery-detail"),
        (
            "deliveries/<str:delivery>/attempts/",
            deliveries_views.DeliveryAttemptsView,
            "delivery-attempts",
        ),
        (
            "deliveries/<str:delivery>/replay/",
            deliveries_views.DeliveryReplayView,
            "delivery-replay",
        ),
    ),
]


@csrf_exempt  # an API path is JSON for every method: never the CSRF failure page
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Every answer under ``/api/`` is JSON, an unknown path too."""
    return JsonResponse(
        {"error": {"code": "not_found", "message": "No such API route.", "fields": {}}},
        status=404,
    )


app_name = "api"
urlpatterns = [
    path("v1/", include(v1)),
    path("v1/", include("webhooks_platform.svix_api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        # Swagger UI starts itself with an inline script.
        csp_update({"script-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerView.as_view(url_name="api:schema")
        ),
        name="docs",
    ),
    re_path(r"^.*$", not_found),
]
