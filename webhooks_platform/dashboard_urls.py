"""The dashboard's routes: sign-in, the tenant portal and the support console."""

from django.contrib.auth import views as auth_views
from django.urls import path

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

urlpatterns = [
    path("", portal_views.home, name="dashboard-home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html",
            redirect_authenticated_user=True,
            next_page="dashboard-home",
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path(
        "members/set-password/<str:uidb64>/<str:token>/",
        member_views.SetPasswordView.as_view(),
        name="member-set-password",
    ),
    path("portal/enter/", portal_views.portal_open, name="portal-open"),
    # Links of the earlier form carried the key in the path, where access logs keep it: gone.
    path("portal/enter/<str:token>/", portal_views.portal_enter_gone, name="portal-enter-gone"),
    path("tenant/switch/", portal_views.tenant_switch, name="tenant-switch"),
    # Tenant portal
    path("endpoints/", endpoint_views.endpoint_list, name="endpoint-list"),
    path("endpoints/new/", endpoint_views.endpoint_create, name="endpoint-create"),
    path("endpoints/<str:endpoint_id>/", endpoint_views.endpoint_detail, name="endpoint-detail"),
    path("endpoints/<str:endpoint_id>/edit/", endpoint_views.endpoint_edit, name="endpoint-edit"),
    path(
        "endpoints/<str:endpoint_id>/filter-test/",
        filter_views.endpoint_filter_test,
        name="endpoint-filter-test",
    ),
    path(
        "endpoints/<str:endpoint_id>/transformation/",
        transform_views.endpoint_transformation,
        name="endpoint-transformation",
    ),
    path(
        "endpoints/<str:endpoint_id>/delete/",
        endpoint_views.endpoint_delete,
        name="endpoint-delete",
    ),
    path(
        "endpoints/<str:endpoint_id>/toggle/",
        endpoint_views.endpoint_toggle,
        name="endpoint-toggle",
    ),
    path(
        "endpoints/<str:endpoint_id>/circuit-reset/",
        endpoint_views.endpoint_circuit_reset,
        name="endpoint-circuit-reset",
    ),
    path(
        "endpoints/<str:endpoint_id>/secret/",
        secret_views.endpoint_secret_reveal,
        name="endpoint-secret",
    ),
    path(
        "endpoints/<str:endpoint_id>/secret/rotate/",
        secret_views.endpoint_secret_rotate,
        name="endpoint-secret-rotate",
    ),
    path(
        "endpoints/<str:endpoint_id>/test/",
        endpoint_views.endpoint_send_test,
        name="endpoint-send-test",
    ),
    path(
        "endpoints/<str:endpoint_id>/recover/",
        delivery_views.endpoint_recover,
        name="endpoint-recover",
    ),
    path(
        "endpoints/<str:endpoint_id>/deliveries/",
        delivery_views.delivery_log,
        name="endpoint-delivery-log",
    ),
    path("deliveries/", delivery_views.delivery_log, name="delivery-log"),
    path("search/", delivery_views.search, name="search"),
    path("events/scheduled/", event_views.scheduled_events, name="scheduled-events"),
    path("events/<str:event_id>/", delivery_views.event_detail, name="event-detail"),
    path("events/<str:event_id>/resend/", event_views.event_resend_view, name="event-resend"),
    path(
        "events/<str:event_id>/cancel/",
        event_views.scheduled_event_cancel,
        name="scheduled-event-cancel",
    ),
    path("deliveries/<int:delivery_id>/", delivery_views.delivery_detail, name="delivery-detail"),
    path(
        "deliveries/<int:delivery_id>/replay/",
        delivery_views.delivery_replay_view,
        name="delivery-replay",
    ),
    path("attempts/<int:attempt_id>/", delivery_views.attempt_detail, name="attempt-detail"),
    path("jobs/<int:job_id>.json", delivery_views.job_status, name="job-status"),
    path("catalogue/", settings_views.event_catalogue, name="event-catalogue"),
    path("settings/", settings_views.tenant_settings, name="tenant-settings"),
    path("settings/portal-links/", portal_views.portal_links, name="portal-links"),
    path(
        "settings/portal-links/new/",
        portal_views.portal_link_create,
        name="portal-link-create",
    ),
    path(
        "settings/portal-links/<str:link_id>/revoke/",
        portal_views.portal_link_revoke,
        name="portal-link-revoke",
    ),
    path("settings/api-keys/", key_views.api_keys, name="api-keys"),
    path("settings/api-keys/new/", key_views.api_key_create, name="api-key-create"),
    path(
        "settings/api-keys/<str:key_id>/revoke/",
        key_views.api_key_revoke,
        name="api-key-revoke",
    ),
    path(
        "settings/update/",
        settings_views.tenant_settings_update,
        name="tenant-settings-update",
    ),
    # Support console
    path("support/", support.support_home, name="support-home"),
    path("support/deliveries/", support.support_deliveries, name="support-deliveries"),
    path("support/stuck/", backlog_views.support_backlog, name="support-backlog"),
    path(
        "support/endpoints/<str:endpoint_id>/circuit-reset/",
        support.support_circuit_reset,
        name="support-circuit-reset",
    ),
    path(
        "support/deliveries/<int:delivery_id>/",
        support.support_delivery_detail,
        name="support-delivery-detail",
    ),
    path(
        "support/deliveries/<int:delivery_id>/replay/",
        support.support_delivery_replay,
        name="support-delivery-replay",
    ),
    path(
        "support/deliveries/<int:delivery_id>/skip/",
        backlog_views.support_delivery_skip,
        name="support-delivery-skip",
    ),
    path(
        "support/attempts/<int:attempt_id>/",
        support.support_attempt_detail,
        name="support-attempt-detail",
    ),
    path("support/bulk-replay/", support.support_bulk_replay, name="support-bulk-replay"),
    path("support/jobs/", support.support_jobs, name="support-jobs"),
    path("support/tenants/<str:tenant_key>/", support.support_tenant, name="support-tenant"),
    path(
        "support/tenants/<str:tenant_key>/members/",
        member_views.support_members,
        name="support-members",
    ),
    path(
        "support/tenants/<str:tenant_key>/portal-links/expire/",
        support.support_portal_links_expire,
        name="support-portal-links-expire",
    ),
    path(
        "support/endpoints/<str:endpoint_id>/toggle/",
        support.support_endpoint_toggle,
        name="support-endpoint-toggle",
    ),
    path("support/jobs/<int:job_id>/", support.support_job, name="support-job"),
    path("support/jobs/<int:job_id>.json", support.support_job_status, name="support-job-status"),
    path("support/audit/", support.support_audit, name="support-audit"),
]
