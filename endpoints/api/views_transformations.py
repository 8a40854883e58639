"""An endpoint's transformation on the native API: read, replace, change, and simulate a run.

``/api/v1/tenants/{tenant}/endpoints/{id}/transformation/`` (GET, PUT, PATCH) and
``…/transformation/simulate/`` (POST: runs code on a sample, sends nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from endpoints.models import Endpoint
from endpoints.services import transformations
from platform_core.api.views import responses

from .views import TENANT_PARAM, EndpointView

TAG = ["endpoints"]


class TransformationPutInSerializer(serializers.Serializer):
    code = serializers.CharField(trim_whitespace=False)
    enabled = serializers.BooleanField(required=False)


class TransformationPatchInSerializer(serializers.Serializer):
    code = serializers.CharField(required=False, trim_whitespace=False)
    enabled = serializers.BooleanField(required=False)


class TransformationVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class TransformationOutSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    code = serializers.CharField(allow_null=True)
    version = serializers.IntegerField(allow_null=True, help_text="The newest, which runs.")
    versions = TransformationVersionSerializer(many=True)


class SimulateInSerializer(serializers.Serializer):
    code = serializers.CharField(
        required=False, trim_whitespace=False, help_text="Default: the endpoint's saved code."
    )
    event_type = serializers.CharField()
    payload = serializers.JSONField(help_text="What the endpoint would receive.")
    url = serializers.CharField(required=False, help_text="Default: the endpoint's URL.")


class SimulateOutSerializer(serializers.Serializer):
    input = serializers.JSONField()
    output = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True)


def transformation_out(endpoint: Endpoint) -> dict[str, Any]:
    state = transformations.transformation_get(endpoint=endpoint)
    return {
        "enabled": state.enabled,
        "code": state.current.code if state.current else None,
        "version": state.current.version if state.current else None,
        "versions": [
            {"version": v.version, "created_at": v.created_at}
            for v in endpoint.transformations.order_by("-version")
        ],
    }


def _schema(method: str, **kwargs: Any) -> Callable[[Any], Any]:
    """The schema of the transformation route's ``method`` (its operation id, tag, tenant)."""
    return extend_schema(
        operation_id=f"endpoint_transformation_{method}",
        tags=TAG,
        parameters=[TENANT_PARAM],
        **kwargs,
    )


def _writer(method: str, summary: str, serializer: type[serializers.Serializer]) -> Any:
    """PUT or PATCH: ``serializer`` checks the body, ``transformation_update`` saves it (a new
    version when there is code), and the answer is the transformation as GET shows it."""

    @_schema(
        method,
        summary=summary,
        request=serializer,
        responses=responses({200: TransformationOutSerializer}, 400, 404),
    )
    def write(self: TransformationView, request: Request, tenant: str, endpoint: str) -> Response:
        data = self.parse(serializer, request.data)
        target = self.get_endpoint()
        transformations.transformation_update(
            endpoint=target,
            code=data.get("code"),
            enabled=data.get("enabled"),
            api_key=self.api_key,
        )
        target.refresh_from_db()
        return Response(transformation_out(target))

    return write


class TransformationView(EndpointView):
    @_schema("get", responses=responses({200: TransformationOutSerializer}, 404))
    def get(self, request: Request, tenant: str, endpoint: str) -> Response:
        return Response(transformation_out(self.get_endpoint()))

    put = _writer(
        "put", "Save the transformation's code as a new version", TransformationPutInSerializer
    )
    patch = _writer("patch", "Enable, disable, or save new code", TransformationPatchInSerializer)


class TransformationSimulateView(EndpointView):
    @_schema(
        "simulate",
        summary="Run code on a sample payload, sending nothing",
        request=SimulateInSerializer,
        responses=responses({200: SimulateOutSerializer}, 400, 404),
    )
    def post(self, request: Request, tenant: str, endpoint: str) -> Response:
        target = self.get_endpoint()
        data = self.parse(SimulateInSerializer, request.data)
        code = data.get("code")
        if code is None:
            current = transformations.transformation_get(endpoint=target).current
            code = current.code if current else ""
        result = transformations.transformation_simulate(
            code=code,
            payload=data["payload"],
            event_type=data["event_type"],
            url=data.get("url") or target.url,
        )
        return Response(result)
