"""The dashboard's routes: sign-in, the tenant portal and the support console.

Each table lists (path under its prefix, view, URL name) in resolution order."""

from collections.abc import Callable

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, path

from deliveries import views as delivery_views
from deliveries import views_backlog as backlog_views
from deliveries import views_endpoints as endpoint_views
from deliveries import views_events as event_views
from deliveries import views_filter as filter_views
from deliveries import views_support as support
from deliveries import views_transform as transform_views
from endpoints import views_keys as key_views
from endpoints import views_members as member_views
from endpoints import views_portal as portal_views
from endpoints import views_secrets as secret_views
from endpoints import views_settings as settings_views

Route = tuple[str, Callable[..., object], str]


def routes(prefix: str, *table: Route) -> list[URLPattern]:
    return [path(prefix + route, view, name=name) for route, view, name in table]


urlpatterns = [
    *routes(
        "",
        ("", portal_views.home, "dashboard-home"),
        (
            "login/",
            auth_views.LoginView.as_view(
                template_name="registration/login.html",
                redirect_authenticated_user=True,
                next_page="dashboard-home",
            ),
            "login",
        ),
        ("logout/", auth_views.LogoutView.as_view(next_page="login"), "logout"),
        (
            "members/set-password/<str:uidb64>/<str:token>/",
            member_views.SetPasswordView.as_view(),
            "member-set-password",
        ),
        ("portal/enter/", portal_views.portal_open, "portal-open"),
        # Links of the earlier form carried the key in the path, where access logs keep it: gone.
        ("portal/enter/<str:token>/", portal_views.portal_enter_gone, "portal-enter-gone"),
        ("tenant/switch/", portal_views.tenant_switch, "tenant-switch"),
        # Tenant portal
        ("endpoints/", endpoint_views.endpoint_list, "endpoint-list"),
        ("endpoints/new/", endpoint_views.endpoint_create, "endpoint-create"),
    ),
    *routes(
        "endpoints/<str:endpoint_id>/",
        ("", endpoint_views.endpoint_detail, "endpoint-detail"),
        ("edit/", endpoint_views.endpoint_edit, "endpoint-edit"),
        ("filter-test/", filter_views.endpoint_filter_test, "endpoint-filter-test"),
        ("transformation/", transform_views.endpoint_transformation, "endpoint-transformation"),
        ("delete/", endpoint_views.endpoint_delete, "endpoint-delete"),
        ("toggle/", endpoint_views.endpoint_toggle, "endpoint-toggle"),
        ("circuit-reset/", endpoint_views.endpoint_circuit_reset, "endpoint-circuit-reset"),
        ("secret/", secret_views.endpoint_secret_reveal, "endpoint-secret"),
        ("secret/rotate/", secret_views.endpoint_secret_rotate, "endpoint-secret-rotate"),
        ("test/", endpoint_views.endpoint_send_test, "endpoint-send-test"),
        ("recover/", delivery_views.endpoint_recover, "endpoint-recover"),
        ("deliveries/", delivery_views.delivery_log, "endpoint-delivery-log"),
    ),
    *routes(
        "",
        ("deliveries/", delivery_views.delivery_log, "delivery-log"),
        ("search/", delivery_views.search, "search"),
        ("events/scheduled/", event_views.scheduled_events, "scheduled-events"),
        ("events/<str:event_id>/", delivery_views.event_detail, "event-detail"),
        ("events/<str:event_id>/resend/", event_views.event_resend_view, "event-resend"),
        (
            "events/<str:event_id>/cancel/",
            event_views.scheduled_event_cancel,
            "scheduled-event-cancel",
        ),
        ("deliveries/<int:delivery_id>/", delivery_views.delivery_detail, "delivery-detail"),
        (
            "deliveries/<int:delivery_id>/replay/",
            delivery_views.delivery_replay_view,
            "delivery-replay",
        ),
        ("attempts/<int:attempt_id>/", delivery_views.attempt_detail, "attempt-detail"),
        ("jobs/<int:job_id>.json", delivery_views.job_status, "job-status"),
        ("catalogue/", settings_views.event_catalogue, "event-catalogue"),
    ),
    *routes(
        "settings/",
        ("", settings_views.tenant_settings, "tenant-settings"),
        ("portal-links/", portal_views.portal_links, "portal-links"),
        ("portal-links/new/", portal_views.portal_link_create, "portal-link-create"),
        (
            "portal-links/<str:link_id>/revoke/",
            portal_views.portal_link_revoke,
            "portal-link-revoke",
        ),
        ("api-keys/", key_views.api_keys, "api-keys"),
        ("api-keys/new/", key_views.api_key_create, "api-key-create"),
        ("api-keys/<str:key_id>/revoke/", key_views.api_key_revoke, "api-key-revoke"),
        ("update/", settings_views.tenant_settings_update, "tenant-settings-update"),
    ),
    # Support console
    *routes(
        "support/",
        ("", support.support_home, "support-home"),
        ("deliveries/", support.support_deliveries, "support-deliveries"),
        ("stuck/", backlog_views.support_backlog, "support-backlog"),
        (
            "endpoints/<str:endpoint_id>/circuit-reset/",
            support.support_circuit_reset,
            "support-circuit-reset",
        ),
        (
            "deliveries/<int:delivery_id>/",
            support.support_delivery_detail,
            "support-delivery-detail",
        ),
        (
            "deliveries/<int:delivery_id>/replay/",
            support.support_delivery_replay,
            "support-delivery-replay",
        ),
        (
            "deliveries/<int:delivery_id>/skip/",
            backlog_views.support_delivery_skip,
            "support-delivery-skip",
        ),
        ("attempts/<int:attempt_id>/", support.support_attempt_detail, "support-attempt-detail"),
        ("bulk-replay/", support.support_bulk_replay, "support-bulk-replay"),
        ("jobs/", support.support_jobs, "support-jobs"),
        ("tenants/<str:tenant_key>/", support.support_tenant, "support-tenant"),
        ("tenants/<str:tenant_key>/members/", member_views.support_members, "support-members"),
        (
            "tenants/<str:tenant_key>/portal-links/expire/",
            support.support_portal_links_expire,
            "support-portal-links-expire",
        ),
        (
            "endpoints/<str:endpoint_id>/toggle/",
            support.support_endpoint_toggle,
            "support-endpoint-toggle",
        ),
        ("jobs/<int:job_id>/", support.support_job, "support-job"),
        ("jobs/<int:job_id>.json", support.support_job_status, "support-job-status"),
        ("audit/", support.support_audit, "support-audit"),
    ),
]
