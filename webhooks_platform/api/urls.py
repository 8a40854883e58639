"""The REST API's URL map: ``/api/v1/...``, the OpenAPI document and its browsable docs."""

from __future__ import annotations

from csp.decorators import csp_update
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from deliveries.api import views as deliveries_views
from deliveries.api import views_endpoints, views_feed
from endpoints.api import views as endpoints_views
from endpoints.api import views_transformations

# Registers the Bearer scheme with drf-spectacular before the schema is generated.
from . import authentication  # noqa: F401

T = "tenants/<str:tenant>"
EP = f"{T}/endpoints/<str:endpoint>"

v1 = [
    path("event-types/", endpoints_views.EventTypeListView.as_view(), name="event-types"),
    path(
        "event-types/<str:name>/",
        endpoints_views.EventTypeDetailView.as_view(),
        name="event-type-detail",
    ),
    path("tenants/", endpoints_views.TenantListView.as_view(), name="tenants"),
    path(f"{T}/", endpoints_views.TenantDetailView.as_view(), name="tenant-detail"),
    path(f"{T}/portal-links/", endpoints_views.PortalLinkView.as_view(), name="portal-links"),
    path(
        f"{T}/portal-links/<str:link>/",
        endpoints_views.PortalLinkDetailView.as_view(),
        name="portal-link-detail",
    ),
    path(f"{T}/endpoints/", endpoints_views.EndpointListView.as_view(), name="endpoints"),
    path(f"{EP}/", views_endpoints.EndpointDetailView.as_view(), name="endpoint-detail"),
    path(f"{EP}/secret/", endpoints_views.EndpointSecretView.as_view(), name="endpoint-secret"),
    path(
        f"{EP}/secret/rotate/",
        endpoints_views.EndpointSecretRotateView.as_view(),
        name="endpoint-secret-rotate",
    ),
    path(
        f"{EP}/circuit-reset/",
        views_endpoints.EndpointCircuitResetView.as_view(),
        name="endpoint-circuit-reset",
    ),
    path(
        f"{EP}/transformation/",
        views_transformations.TransformationView.as_view(),
        name="endpoint-transformation",
    ),
    path(
        f"{EP}/transformation/simulate/",
        views_transformations.TransformationSimulateView.as_view(),
        name="endpoint-transformation-simulate",
    ),
    path(f"{EP}/test/", deliveries_views.EndpointTestView.as_view(), name="endpoint-test"),
    path(f"{EP}/recover/", deliveries_views.EndpointRecoverView.as_view(), name="endpoint-recover"),
    path(f"{EP}/stats/", deliveries_views.EndpointStatsView.as_view(), name="endpoint-stats"),
    path(f"{T}/pollers/<str:endpoint>/", views_feed.FeedView.as_view(), name="poller"),
    path(
        f"{T}/pollers/<str:endpoint>/consumers/",
        views_feed.ConsumerListView.as_view(),
        name="poller-consumers",
    ),
    path(
        f"{T}/pollers/<str:endpoint>/consumers/<str:consumer>/",
        views_feed.ConsumerView.as_view(),
        name="poller-consumer",
    ),
    path(
        f"{T}/pollers/<str:endpoint>/consumers/<str:consumer>/seek",
        views_feed.ConsumerSeekView.as_view(),
        name="poller-consumer-seek",
    ),
    path(f"{T}/jobs/<str:job>/", deliveries_views.JobDetailView.as_view(), name="job-detail"),
    path(f"{T}/events/", deliveries_views.EventListView.as_view(), name="events"),
    path(f"{T}/events/batch", deliveries_views.EventBatchView.as_view(), name="events-batch"),
    path(f"{T}/events/batch/", deliveries_views.EventBatchSlashView.as_view()),
    path(
        f"{T}/events/<str:event>/", deliveries_views.EventDetailView.as_view(), name="event-detail"
    ),
    path(f"{T}/deliveries/", deliveries_views.DeliveryListView.as_view(), name="deliveries"),
    path(
        f"{T}/deliveries/<str:delivery>/",
        deliveries_views.DeliveryDetailView.as_view(),
        name="delivery-detail",
    ),
    path(
        f"{T}/deliveries/<str:delivery>/attempts/",
        deliveries_views.DeliveryAttemptsView.as_view(),
        name="delivery-attempts",
    ),
    path(
        f"{T}/deliveries/<str:delivery>/replay/",
        deliveries_views.DeliveryReplayView.as_view(),
        name="delivery-replay",
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
