from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from webhooks_platform.probes import metrics_view, readyz


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/", include("webhooks_platform.api.urls")),
    path("", include("webhooks_platform.dashboard_urls")),
]
