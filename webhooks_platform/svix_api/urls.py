"""The Svix-compatible routes, under ``/api/v1/`` beside the native API.

Every path answers with and without a trailing slash (the SDKs never follow a redirect), and an
unknown path under these prefixes answers a JSON 404.
"""

from __future__ import annotations

from django.urls import re_path

from . import views_apps as apps
from . import views_endpoints as endpoints
from . import views_messages as messages
from . import views_poller as poller
from . import views_transformation as transformation
from .base import not_found

SEG = r"[^/]+"
APP = rf"app/(?P<app>{SEG})"
EP = rf"{APP}/endpoint/(?P<endpoint>{SEG})"
MSG = rf"{APP}/msg/(?P<msg>{SEG})"


def route(pattern: str, view: type, name: str):  # type: ignore[no-untyped-def]
    return re_path(rf"^{pattern}/?$", view.as_view(), name=f"svix-{name}")


urlpatterns = [
    route("health", apps.HealthView, "health"),
    route("app", apps.AppListView, "apps"),
    route(APP, apps.AppDetailView, "app"),
    route("event-type", apps.EventTypeListView, "event-types"),
    route(rf"event-type/(?P<name>{SEG})", apps.EventTypeDetailView, "event-type"),
    route(rf"auth/app-portal-access/(?P<app>{SEG})", apps.PortalAccessView, "portal-access"),
    route(rf"auth/dashboard-access/(?P<app>{SEG})", apps.PortalAccessView, "dashboard-access"),
    route(rf"auth/app/(?P<app>{SEG})/expire-all", apps.ExpireAllView, "expire-all"),
    route(rf"{APP}/endpoint", endpoints.EndpointListView, "endpoints"),
    route(EP, endpoints.EndpointDetailView, "endpoint"),
    route(rf"{EP}/secret", endpoints.EndpointSecretView, "endpoint-secret"),
    route(rf"{EP}/secret/rotate", endpoints.EndpointSecretRotateView, "endpoint-secret-rotate"),
    route(rf"{EP}/headers", endpoints.EndpointHeadersView, "endpoint-headers"),
    route(rf"{EP}/stats", endpoints.EndpointStatsView, "endpoint-stats"),
    route(rf"{EP}/recover", endpoints.EndpointRecoverView, "endpoint-recover"),
    route(rf"{EP}/send-example", endpoints.EndpointSendExampleView, "endpoint-send-example"),
    route(rf"{EP}/transformation", transformation.TransformationView, "endpoint-transformation"),
    route(
        rf"{EP}/transformation/simulate",
        transformation.TransformationSimulateView,
        "endpoint-transformation-simulate",
    ),
    route(rf"{EP}/msg", messages.AttemptedMessagesView, "endpoint-messages"),
    route(rf"{APP}/msg", messages.MessageListView, "messages"),
    route(MSG, messages.MessageDetailView, "message"),
    route(rf"{MSG}/content", messages.MessageContentView, "message-content"),
    route(rf"{MSG}/endpoint", messages.AttemptedDestinationsView, "message-endpoints"),
    route(rf"{MSG}/endpoint/(?P<endpoint>{SEG})/resend", messages.ResendView, "message-resend"),
    route(rf"{MSG}/attempt/(?P<attempt>{SEG})", messages.AttemptDetailView, "attempt"),
    route(
        rf"{MSG}/attempt/(?P<attempt>{SEG})/content", messages.AttemptContentView, "attempt-content"
    ),
    route(
        rf"{APP}/attempt/endpoint/(?P<endpoint>{SEG})",
        messages.AttemptsByEndpointView,
        "attempts-by-endpoint",
    ),
    route(rf"{APP}/attempt/msg/(?P<msg>{SEG})", messages.AttemptsByMessageView, "attempts-by-msg"),
    route(rf"{APP}/poller/(?P<sink>{SEG})", poller.PollerView, "poller"),
    route(
        rf"{APP}/poller/(?P<sink>{SEG})/consumer/(?P<consumer>{SEG})",
        poller.ConsumerView,
        "poller-consumer",
    ),
    route(
        rf"{APP}/poller/(?P<sink>{SEG})/consumer/(?P<consumer>{SEG})/seek",
        poller.ConsumerSeekView,
        "poller-consumer-seek",
    ),
    re_path(r"^(?:app|event-type|auth|health)(?:/.*)?$", not_found),
]


SVIX_SEGMENTS = {"app", "event-type", "auth", "health"}


def schema_paths_without_slash(result, generator, request, public):  # type: ignore[no-untyped-def]
    """OpenAPI post-processing: the Svix routes as the SDKs call them, with no trailing slash
    (they answer both ways; the document shows one)."""
    result["paths"] = {
        (path.rstrip("/") if is_svix_path(path) else path): item
        for path, item in result["paths"].items()
    }
    return result


def is_svix_path(path: str) -> bool:
    parts = path.split("/")  # "", "api", "v1", first segment, ...
    return len(parts) > 3 and parts[3] in SVIX_SEGMENTS
