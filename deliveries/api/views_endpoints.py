"""An endpoint's changes that reach its deliveries: update (disabling cancels what waits,
enabling resumes it), delete and circuit reset. The endpoint's other routes are in
``endpoints.api.views``; both call services and render, nothing more."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from deliveries.services import endpoint_lifecycle
from endpoints import services
from endpoints.api.serializers_endpoints import (
    CircuitResetOutSerializer,
    EndpointOutSerializer,
    EndpointUpdateInSerializer,
)
from endpoints.api.views import NO_CONTENT, TENANT_PARAM, EndpointView
from platform_core.api.views import responses


class EndpointDetailView(EndpointView):
    @extend_schema(
        tags=["endpoints"],
        parameters=[TENANT_PARAM],
        responses=responses({200: EndpointOutSerializer}, 404),
    )
    def get(self, request: Request, tenant: str, endpoint: str) -> Response:
        return Response(EndpointOutSerializer(self.get_endpoint()).data)

    @extend_schema(
        tags=["endpoints"],
        parameters=[TENANT_PARAM],
        request=EndpointUpdateInSerializer,
        responses=responses({200: EndpointOutSerializer}, 400, 404),
    )
    def patch(self, request: Request, tenant: str, endpoint: str) -> Response:
        target = self.get_endpoint()
        data = self.parse(EndpointUpdateInSerializer, request.data)
        before = services.endpoint_snapshot(target)
        with transaction.atomic():
            endpoint_lifecycle.endpoint_update(endpoint=target, **data)
            after = services.endpoint_snapshot(target)
            for action, details in services.endpoint_change_actions(before, after):
                services.audit_record(
                    action=action,
                    api_key=self.api_key,
                    tenant=self.tenant,
                    target=target,
                    details=details,
                )
        return Response(EndpointOutSerializer(self.get_endpoint()).data)

    @extend_schema(
        tags=["endpoints"],
        parameters=[TENANT_PARAM],
        description="Stops deliveries (pending ones are cancelled); the history stays readable.",
        responses=responses(NO_CONTENT, 404),
    )
    def delete(self, request: Request, tenant: str, endpoint: str) -> Response:
        target = self.get_endpoint()
        with transaction.atomic():
            endpoint_lifecycle.endpoint_delete(endpoint=target)
            services.audit_record(
                action="endpoint.delete", api_key=self.api_key, tenant=self.tenant, target=target
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointCircuitResetView(EndpointView):
    @extend_schema(
        tags=["endpoints"],
        parameters=[TENANT_PARAM],
        summary="Retry now: close the circuit",
        description="Closes the endpoint's circuit, starts its failure run over and sends what "
        "waits for it at once, without waiting for the next probe. If the receiver still "
        "fails, the circuit opens again after the usual run of failures.",
        request=None,
        responses=responses({200: CircuitResetOutSerializer}, 400, 404),
    )
    def post(self, request: Request, tenant: str, endpoint: str) -> Response:
        target = self.get_endpoint()
        if not target.enabled:
            raise exceptions.ValidationError(
                {"endpoint": "The endpoint is disabled; enabling it also resets its circuit."}
            )
        with transaction.atomic():
            released = endpoint_lifecycle.endpoint_circuit_reset(endpoint=target)
            services.audit_record(
                action="endpoint.circuit_reset",
                api_key=self.api_key,
                tenant=self.tenant,
                target=target,
                details={"released": released},
            )
        return Response(CircuitResetOutSerializer({"released": released}).data)
