"""An endpoint's transformation on the Svix surface: ``…/endpoint/{id}/transformation`` (GET,
PATCH) and ``…/transformation/simulate`` (POST), as Svix's OpenAPI spells them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from endpoints.services import transformations

from . import serializers as s
from .base import SvixError
from .views_endpoints import EndpointSubView

TAG = ["svix: endpoint"]


class TransformationView(EndpointSubView):
    @extend_schema(tags=TAG, responses={200: s.TransformationOut})
    def get(self, request: Request, app: str, endpoint: str) -> Response:
        state = transformations.transformation_get(endpoint=self.endpoint())
        current = state.current
        return Response(
            {
                "code": current.code if current else None,
                "enabled": state.enabled,
                "updatedAt": current.created_at if current else None,
            }
        )

    @extend_schema(tags=TAG, request=s.TransformationIn, responses={204: None})
    def patch(self, request: Request, app: str, endpoint: str) -> Response:
        data = self.parse(s.TransformationIn, self.body())
        transformations.transformation_update(
            endpoint=self.endpoint(),
            code=data.get("code"),
            enabled=data.get("enabled"),
            api_key=self.api_key,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TransformationSimulateView(EndpointSubView):
    @extend_schema(
        tags=TAG, request=s.TransformationSimulateIn, responses={200: s.TransformationSimulateOut}
    )
    def post(self, request: Request, app: str, endpoint: str) -> Response:
        found = self.endpoint()
        data = self.parse(s.TransformationSimulateIn, self.body())
        result = transformations.transformation_simulate(
            code=data["code"], payload=data["payload"], event_type=data["eventType"], url=found.url
        )
        if result["error"]:
            raise SvixError(400, "transformation_error", result["error"])
        output = result["output"]
        if output.get("cancel"):
            raise SvixError(400, "transformation_cancelled", "The transformation cancelled it.")
        return Response(
            {"method": output["method"], "url": output["url"], "payload": output["body"]}
        )
