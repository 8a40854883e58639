"""Health, applications (tenants), event types and portal access of the Svix-compatible API."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from deliveries.services import endpoint_lifecycle
from endpoints import portal, services
from endpoints.models import EventType, Tenant
from webhooks_platform.probes import database_check

from . import serializers as s
from .base import SvixView, app_find, invalid, page, parse_bool

TAG_APP = ["svix: application"]
TAG_EVENT_TYPE = ["svix: event type"]


class HealthView(SvixView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(tags=["svix: health"], responses={200: None, 500: None})
    def get(self, request: Request) -> Response:
        error = database_check("default")
        body = {"database": {"status": "error" if error else "ok"}}
        return Response(body, status=500 if error else 200)

    def head(self, request: Request) -> Response:
        return self.get(request)


def _app_fields(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("throttleRate") is not None:
        raise invalid(
            "body",
            "throttleRate",
            "Throttling is per endpoint on this platform; set throttleRate on the endpoints.",
        )
    out: dict[str, Any] = {}
    for ours, theirs in (("name", "name"), ("uid", "uid"), ("metadata", "metadata")):
        if theirs in data:
            out[ours] = data[theirs]
    return out


def app_create(data: dict[str, Any], *, uid: str | None = None) -> Tenant:
    """A tenant made through this API: Svix's message format (the payload is the body)."""
    fields = _app_fields(data)
    if uid is not None:
        fields["uid"] = uid
    return services.tenant_create(message_format=Tenant.MessageFormat.SVIX, **fields)


def app_get_or_create(data: dict[str, Any], path_key: str) -> Tenant:
    """The app a message or portal request names, created from ``application`` if missing."""
    found = app_find(path_key)
    if found is not None:
        return found
    if not data:
        raise exceptions.NotFound()
    uid = data.get("uid")
    if uid is None:
        raise invalid(
            "body", "application", "application.uid is missing", "application_uid_missing"
        )
    if uid != path_key:
        raise invalid(
            "body",
            "application",
            "application.uid must be the id in the path",
            "application_uid_mismatch",
        )
    return app_create(data)


class AppListView(SvixView):
    @extend_schema(tags=TAG_APP, responses={200: s.listed(s.ApplicationOut)})
    def get(self, request: Request) -> Response:
        self.platform_only()
        order = request.query_params.get("order") or "ascending"
        return page(
            Tenant.objects.all(),
            request,
            lambda rows: s.ApplicationOut(rows, many=True).data,
            key="public_id",
            descending=order == "descending",
        )

    @extend_schema(tags=TAG_APP, request=s.ApplicationIn, responses={201: s.ApplicationOut})
    def post(self, request: Request) -> Response:
        self.platform_only()
        data = self.parse(s.ApplicationIn, self.body())
        if parse_bool(request.query_params.get("get_if_exists"), "get_if_exists", False):
            existing = (
                Tenant.objects.filter(uid=data.get("uid")).first() if data.get("uid") else None
            )
            if existing is not None:
                return Response(s.ApplicationOut(existing).data)
        tenant = app_create(data)
        return Response(s.ApplicationOut(tenant).data, status=status.HTTP_201_CREATED)


class AppDetailView(SvixView):
    @extend_schema(tags=TAG_APP, responses={200: s.ApplicationOut})
    def get(self, request: Request, app: str) -> Response:
        return Response(s.ApplicationOut(self.app()).data)

    @extend_schema(tags=TAG_APP, request=s.ApplicationIn, responses={200: s.ApplicationOut})
    def put(self, request: Request, app: str) -> Response:
        data = self.parse(s.ApplicationIn, self.body())
        tenant = self.app_if_any()
        if tenant is None:
            self.platform_only()
            if app.startswith("app_"):
                raise exceptions.NotFound()
            return Response(s.ApplicationOut(app_create(data, uid=app)).data, status=201)
        fields = _app_fields(data)
        fields.setdefault("uid", None)
        fields.setdefault("metadata", {})
        return Response(s.ApplicationOut(services.tenant_update(tenant=tenant, **fields)).data)

    @extend_schema(tags=TAG_APP, request=s.ApplicationPatch, responses={200: s.ApplicationOut})
    def patch(self, request: Request, app: str) -> Response:
        tenant = self.app()
        data = self.parse(s.ApplicationPatch, self.body(), partial=True)
        updated = services.tenant_update(tenant=tenant, **_app_fields(data))
        return Response(s.ApplicationOut(updated).data)

    @extend_schema(tags=TAG_APP, responses={204: None})
    def delete(self, request: Request, app: str) -> Response:
        self.platform_only()
        tenant = self.app()
        services.audit_record(action="tenant.delete", api_key=self.api_key, target=tenant)
        endpoint_lifecycle.tenant_delete(tenant=tenant)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- event types -------------------------------------------------------------------------------


def _event_type_fields(data: dict[str, Any]) -> dict[str, Any]:
    flags = data.get("featureFlags")
    if flags and len(flags) > 1:
        raise invalid("body", "featureFlags", "At most one feature flag per event type here.")
    out: dict[str, Any] = {}
    for ours, theirs in (
        ("description", "description"),
        ("archived", "archived"),
        ("deprecated", "deprecated"),
        ("schemas", "schemas"),
    ):
        if theirs in data:
            out[ours] = data[theirs]
    if "featureFlag" in data or flags is not None:
        out["feature_flag"] = data.get("featureFlag") or (flags[0] if flags else "")
    return out


class EventTypeListView(SvixView):
    @extend_schema(tags=TAG_EVENT_TYPE, responses={200: s.listed(s.EventTypeOut)})
    def get(self, request: Request) -> Response:
        query = request.query_params
        qs = EventType.objects.filter(internal=False)
        if not parse_bool(query.get("include_archived"), "include_archived", False):
            qs = qs.filter(archived=False)
        context = {"with_content": parse_bool(query.get("with_content"), "with_content", True)}
        return page(
            qs,
            request,
            lambda rows: s.EventTypeOut(rows, many=True, context=context).data,
            key="name",
            descending=False,
        )

    @extend_schema(tags=TAG_EVENT_TYPE, request=s.EventTypeIn, responses={201: s.EventTypeOut})
    def post(self, request: Request) -> Response:
        self.platform_only()
        data = self.parse(s.EventTypeIn, self.body())
        existing = EventType.objects.filter(name=data["name"]).first()
        if existing is not None and existing.archived:
            # Svix revives an archived type created again.
            fields = {"archived": False, **_event_type_fields(data)}
            updated = services.event_type_update(event_type=existing, **fields)
            return Response(s.EventTypeOut(updated).data, status=201)
        created = services.event_type_create(name=data["name"], **_event_type_fields(data))
        return Response(s.EventTypeOut(created).data, status=status.HTTP_201_CREATED)


class EventTypeDetailView(SvixView):
    def event_type(self) -> EventType:
        found = EventType.objects.filter(name=self.kwargs["name"], internal=False).first()
        if found is None:
            raise exceptions.NotFound()
        return found

    @extend_schema(tags=TAG_EVENT_TYPE, responses={200: s.EventTypeOut})
    def get(self, request: Request, name: str) -> Response:
        return Response(s.EventTypeOut(self.event_type()).data)

    @extend_schema(tags=TAG_EVENT_TYPE, request=s.EventTypePatch, responses={200: s.EventTypeOut})
    def put(self, request: Request, name: str) -> Response:
        self.platform_only()
        data = self.parse(s.EventTypePatch, self.body())
        fields = _event_type_fields(data)
        found = EventType.objects.filter(name=name).first()
        if found is None:
            created = services.event_type_create(name=name, **fields)
            return Response(s.EventTypeOut(created).data, status=201)
        defaults = {"description": "", "archived": False, "deprecated": False, "schemas": None}
        updated = services.event_type_update(event_type=found, **{**defaults, **fields})
        return Response(s.EventTypeOut(updated).data)

    @extend_schema(tags=TAG_EVENT_TYPE, request=s.EventTypePatch, responses={200: s.EventTypeOut})
    def patch(self, request: Request, name: str) -> Response:
        self.platform_only()
        found = self.event_type()
        data = self.parse(s.EventTypePatch, self.body(), partial=True)
        updated = services.event_type_update(event_type=found, **_event_type_fields(data))
        return Response(s.EventTypeOut(updated).data)

    @extend_schema(tags=TAG_EVENT_TYPE, responses={204: None})
    def delete(self, request: Request, name: str) -> Response:
        self.platform_only()
        found = self.event_type()
        with transaction.atomic():
            if parse_bool(request.query_params.get("expunge"), "expunge", False):
                services.event_type_delete(event_type=found)
            else:
                services.event_type_archive(event_type=found)
            services.audit_record(action="event_type.archive", api_key=self.api_key, target=found)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- portal access -----------------------------------------------------------------------------


class PortalAccessView(SvixView):
    @extend_schema(
        tags=["svix: authentication"],
        request=s.PortalAccessIn,
        responses={200: s.PortalAccessOut},
    )
    def post(self, request: Request, app: str) -> Response:
        self.platform_only()
        data = self.parse(s.PortalAccessIn, self.body() if request.data else {})
        tenant = app_get_or_create(data.get("application") or {}, app)
        with transaction.atomic():
            link, token = portal.portal_link_create(
                tenant=tenant,
                expires_in=data.get("expiry") or portal.DEFAULT_EXPIRES_IN,
                read_only=bool(data.get("readOnly")),
                session_id=data.get("sessionId") or "",
            )
            services.audit_record(
                action="portal_link.create",
                api_key=self.api_key,
                tenant=tenant,
                target=link,
                details=portal.portal_link_audit_details(link),
            )
        url = request.build_absolute_uri("/").rstrip("/") + portal.portal_path(token)
        return Response(s.PortalAccessOut({"url": url, "token": token}).data)


class ExpireAllView(SvixView):
    @extend_schema(
        tags=["svix: authentication"],
        request=s.ExpireAllIn,
        responses={204: None},
        description="Every portal link of the application (or those of the given sessionIds) "
        "stops opening the portal in `expiry` seconds (default: now), with its open sessions.",
    )
    def post(self, request: Request, app: str) -> Response:
        self.platform_only()
        tenant = self.app()
        data = self.parse(s.ExpireAllIn, self.body() if request.data else {})
        with transaction.atomic():
            ended = portal.portal_links_expire_all(
                tenant=tenant, within=data.get("expiry") or 0, session_ids=data.get("sessionIds")
            )
            services.audit_record(
                action="portal_link.expire_all",
                api_key=self.api_key,
                tenant=tenant,
                target=tenant,
                details={"links": ended, "within_seconds": data.get("expiry") or 0},
            )
        return Response(status=status.HTTP_204_NO_CONTENT)
