"""Tenants, event types and endpoints. Each view: parse, call a service or selector, render.

An endpoint's update, delete and circuit reset reach its deliveries, so their views are in
``deliveries.api.views_endpoints``."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from endpoints import portal, selectors, services
from endpoints.models import Endpoint, EventType
from platform_core.api.pagination import PageQuerySerializer, page_response, paginated
from platform_core.api.permissions import HasApiKey, IsPlatformKey, PlatformKeyForWrites
from platform_core.api.views import ApiView, responses

from .base import TenantView
from .serializers import (
    EventTypeCreateInSerializer,
    EventTypeListQuerySerializer,
    EventTypeOutSerializer,
    EventTypeUpdateInSerializer,
    PortalLinkInSerializer,
    PortalLinkOutSerializer,
    PortalLinkSerializer,
    TenantCreateInSerializer,
    TenantOutSerializer,
    TenantUpdateInSerializer,
)
from .serializers_endpoints import (
    EndpointCreatedOutSerializer,
    EndpointCreateInSerializer,
    EndpointOutSerializer,
    SecretOutSerializer,
    SecretRotateInSerializer,
)

NO_CONTENT = {204: OpenApiResponse(description="Done.")}

# --- Event types -----------------------------------------------------------------------------


class EventTypeListView(ApiView):
    permission_classes = [PlatformKeyForWrites]

    @extend_schema(
        operation_id="event_types_list",
        tags=["event types"],
        parameters=[EventTypeListQuerySerializer],
        responses=responses({200: paginated(EventTypeOutSerializer)}, 400),
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(EventTypeListQuerySerializer)
        qs = selectors.event_types_list(include_archived=query["include_archived"])
        return page_response(qs, query, EventTypeOutSerializer)

    @extend_schema(
        tags=["event types"],
        request=EventTypeCreateInSerializer,
        responses=responses({201: EventTypeOutSerializer}, 400, 403),
    )
    def post(self, request: Request) -> Response:
        data = self.parse(EventTypeCreateInSerializer, request.data)
        event_type = services.event_type_create(**data)
        return Response(EventTypeOutSerializer(event_type).data, status=status.HTTP_201_CREATED)


class EventTypeDetailView(ApiView):
    permission_classes = [PlatformKeyForWrites]

    def get_event_type(self, name: str) -> EventType:
        event_type = EventType.objects.filter(name=name, internal=False).first()
        if event_type is None:
            raise exceptions.NotFound(f"No event type {name!r}.")
        return event_type

    @extend_schema(tags=["event types"], responses=responses({200: EventTypeOutSerializer}, 404))
    def get(self, request: Request, name: str) -> Response:
        return Response(EventTypeOutSerializer(self.get_event_type(name)).data)

    @extend_schema(
        tags=["event types"],
        request=EventTypeUpdateInSerializer,
        responses=responses({200: EventTypeOutSerializer}, 400, 403, 404),
    )
    def patch(self, request: Request, name: str) -> Response:
        event_type = self.get_event_type(name)
        data = self.parse(EventTypeUpdateInSerializer, request.data)
        event_type = services.event_type_update(event_type=event_type, **data)
        return Response(EventTypeOutSerializer(event_type).data)

    @extend_schema(
        tags=["event types"],
        summary="Archive an event type",
        description="Archived types accept no new events; history and subscriptions stay.",
        responses=responses(NO_CONTENT, 403, 404),
    )
    def delete(self, request: Request, name: str) -> Response:
        event_type = self.get_event_type(name)
        with transaction.atomic():
            services.event_type_archive(event_type=event_type)
            services.audit_record(
                action="event_type.archive", api_key=self.api_key, target=event_type
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Tenants ---------------------------------------------------------------------------------


class TenantListView(ApiView):
    permission_classes = [IsPlatformKey]

    @extend_schema(
        operation_id="tenants_list",
        tags=["tenants"],
        parameters=[PageQuerySerializer],
        responses=responses({200: paginated(TenantOutSerializer)}, 400, 403),
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(PageQuerySerializer)
        return page_response(selectors.tenants_list(), query, TenantOutSerializer)

    @extend_schema(
        tags=["tenants"],
        request=TenantCreateInSerializer,
        responses=responses({201: TenantOutSerializer}, 400, 403),
    )
    def post(self, request: Request) -> Response:
        data = self.parse(TenantCreateInSerializer, request.data)
        tenant = services.tenant_create(**data)
        return Response(TenantOutSerializer(tenant).data, status=status.HTTP_201_CREATED)


TENANT_PARAM = OpenApiParameter(
    "tenant", str, OpenApiParameter.PATH, description="The tenant's id or slug."
)


class TenantDetailView(TenantView):
    permission_classes = [HasApiKey]

    @extend_schema(
        tags=["tenants"],
        parameters=[TENANT_PARAM],
        responses=responses({200: TenantOutSerializer}, 404),
    )
    def get(self, request: Request, tenant: str) -> Response:
        return Response(TenantOutSerializer(self.tenant).data)

    @extend_schema(
        tags=["tenants"],
        parameters=[TENANT_PARAM],
        request=TenantUpdateInSerializer,
        responses=responses({200: TenantOutSerializer}, 400, 404),
    )
    def patch(self, request: Request, tenant: str) -> Response:
        data = self.parse(TenantUpdateInSerializer, request.data)
        if "portal" in data and not self.api_key.is_platform:
            # Who may frame the portal is the product's decision, not its tenants'.
            raise exceptions.PermissionDenied("Only a platform key may change the portal's look.")
        with transaction.atomic():
            updated = services.tenant_update(tenant=self.tenant, **data)
            if "portal" in data:
                services.audit_record(
                    action="tenant.portal_look",
                    api_key=self.api_key,
                    tenant=updated,
                    target=updated,
                    details=dict(data["portal"]),
                )
        return Response(TenantOutSerializer(updated).data)


class PortalLinkView(TenantView):
    permission_classes = [IsPlatformKey]

    @extend_schema(
        tags=["tenants"],
        summary="Make a portal link",
        description="A signed, expiring URL that opens the tenant's portal without a password.",
        parameters=[TENANT_PARAM],
        request=PortalLinkInSerializer,
        responses=responses({201: PortalLinkOutSerializer}, 400, 403, 404),
    )
    def post(self, request: Request, tenant: str) -> Response:
        data = self.parse(PortalLinkInSerializer, request.data)
        with transaction.atomic():
            link, token = portal.portal_link_create(
                tenant=self.tenant, expires_in=data["expires_in"], read_only=data["read_only"]
            )
            services.audit_record(
                action="portal_link.create",
                api_key=self.api_key,
                tenant=self.tenant,
                target=link,
                details=portal.portal_link_audit_details(link),
            )
        url = request.build_absolute_uri("/").rstrip("/") + portal.portal_path(token)
        out = {**PortalLinkSerializer(link).data, "url": url, "expires_in": data["expires_in"]}
        return Response(PortalLinkOutSerializer(out).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["tenants"],
        summary="List portal links",
        description="The tenant's 50 newest portal links, live, expired or revoked (no keys).",
        parameters=[TENANT_PARAM],
        responses=responses({200: PortalLinkSerializer(many=True)}, 403, 404),
    )
    def get(self, request: Request, tenant: str) -> Response:
        links = portal.portal_links_recent(tenant=self.tenant)
        return Response(PortalLinkSerializer(links, many=True).data)


class PortalLinkDetailView(TenantView):
    permission_classes = [IsPlatformKey]

    @extend_schema(
        tags=["tenants"],
        summary="Revoke a portal link",
        description="The link stops opening the portal, and its open sessions end at once.",
        parameters=[TENANT_PARAM],
        responses=responses(NO_CONTENT, 403, 404),
    )
    def delete(self, request: Request, tenant: str, link: str) -> Response:
        found = portal.portal_link_get(tenant=self.tenant, link_id=link)
        if found is None:
            raise exceptions.NotFound(f"No portal link {link!r}.")
        with transaction.atomic():
            if portal.portal_link_revoke(found):
                services.audit_record(
                    action="portal_link.revoke",
                    api_key=self.api_key,
                    tenant=self.tenant,
                    target=found,
                )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Endpoints -------------------------------------------------------------------------------


class EndpointView(TenantView):
    """A view of one endpoint of the tenant; another tenant's endpoint is a 404."""

    permission_classes = [HasApiKey]

    def get_endpoint(self) -> Endpoint:
        endpoint = selectors.endpoint_get(tenant=self.tenant, endpoint_id=self.kwargs["endpoint"])
        if endpoint is None:
            raise exceptions.NotFound(f"No endpoint {self.kwargs['endpoint']!r}.")
        return endpoint


class EndpointListView(TenantView):
    permission_classes = [HasApiKey]

    @extend_schema(
        operation_id="endpoints_list",
        tags=["endpoints"],
        parameters=[TENANT_PARAM, PageQuerySerializer],
        responses=responses({200: paginated(EndpointOutSerializer)}, 400, 404),
    )
    def get(self, request: Request, tenant: str) -> Response:
        query = self.parse_query(PageQuerySerializer)
        qs = selectors.endpoints_for_tenant(tenant=self.tenant)
        return page_response(qs, query, EndpointOutSerializer)

    @extend_schema(
        tags=["endpoints"],
        parameters=[TENANT_PARAM],
        request=EndpointCreateInSerializer,
        responses=responses({201: EndpointCreatedOutSerializer}, 400, 404),
    )
    def post(self, request: Request, tenant: str) -> Response:
        data = self.parse(EndpointCreateInSerializer, request.data)
        with transaction.atomic():
            endpoint, secret = services.endpoint_create(tenant=self.tenant, **data)
            services.audit_record(
                action="endpoint.create",
                api_key=self.api_key,
                tenant=self.tenant,
                target=endpoint,
                details={"url": endpoint.url},
            )
        # The only response besides /secret/ that carries the secret.
        body = {**EndpointOutSerializer(endpoint).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class EndpointSecretView(EndpointView):
    read_only_refused = "it cannot read signing secrets."

    @extend_schema(
        tags=["endpoints"],
        parameters=[TENANT_PARAM],
        responses=responses({200: SecretOutSerializer}, 404),
    )
    def get(self, request: Request, tenant: str, endpoint: str) -> Response:
        secret = services.endpoint_secret_current(endpoint=self.get_endpoint())
        return Response(SecretOutSerializer({"secret": secret}).data)


class EndpointSecretRotateView(EndpointView):
    @extend_schema(
        tags=["endpoints"],
        parameters=[TENANT_PARAM],
        summary="Rotate the signing secret",
        description="Read the new secret at /secret/. Previous secrets keep signing beside it "
        "for the grace period.",
        request=SecretRotateInSerializer,
        responses=responses(NO_CONTENT, 400, 404),
    )
    def post(self, request: Request, tenant: str, endpoint: str) -> Response:
        target = self.get_endpoint()
        data: dict[str, Any] = self.parse(SecretRotateInSerializer, request.data)
        with transaction.atomic():
            services.endpoint_secret_rotate(
                endpoint=target, grace_period_seconds=data.get("grace_period_seconds")
            )
            services.audit_record(
                action="endpoint.secret_rotate",
                api_key=self.api_key,
                tenant=self.tenant,
                target=target,
                details={"grace_period_seconds": data.get("grace_period_seconds")},
            )
        return Response(status=status.HTTP_204_NO_CONTENT)
