"""Events, deliveries, jobs and the delivery actions on an endpoint (test, recover, stats)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from deliveries import selectors
from deliveries.models import Delivery, Event
from deliveries.services.jobs import job_recover_create
from deliveries.services.lifecycle import delivery_replay
from deliveries.services.publishing import event_publish, event_send_test
from deliveries.services.publishing_batch import PublishResult, events_publish
from endpoints.api.base import TenantView
from endpoints.api.views import TENANT_PARAM, EndpointView
from endpoints.services import audit_record
from platform_core.api.exceptions import error_body, validation_error_body
from platform_core.api.pagination import PageQuerySerializer, page_response, paginated
from platform_core.api.permissions import HasApiKey
from platform_core.api.views import responses, unknown_fields

from .serializers import (
    DETAIL_ATTEMPTS,
    AttemptOutSerializer,
    DeliveryDetailOutSerializer,
    DeliveryListQuerySerializer,
    DeliveryOutSerializer,
    EventBatchInSerializer,
    EventBatchItemInSerializer,
    EventBatchOutSerializer,
    EventCreateInSerializer,
    EventDetailOutSerializer,
    EventListQuerySerializer,
    EventOutSerializer,
    JobOutSerializer,
    RecoverInSerializer,
    StatsOutSerializer,
    StatsQuerySerializer,
    TestEventInSerializer,
)

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="The same key again returns the first event and sends nothing new. The body's "
    "`idempotency_key` is the same key; both given must agree.",
)

# --- Endpoint actions ------------------------------------------------------------------------


class EndpointTestView(EndpointView):
    @extend_schema(
        tags=["endpoints"],
        summary="Send a test event",
        description="The event type's example goes to this endpoint only, through the normal "
        "pipeline, and is logged like any delivery.",
        parameters=[TENANT_PARAM],
        request=TestEventInSerializer,
        responses=responses({202: EventOutSerializer}, 400, 404),
    )
    def post(self, request: Request, tenant: str, endpoint: str) -> Response:
        target = self.get_endpoint()
        data = self.parse(TestEventInSerializer, request.data)
        event = event_send_test(endpoint=target, event_type=data["event_type"])
        return Response(EventOutSerializer(event).data, status=status.HTTP_202_ACCEPTED)


class EndpointRecoverView(EndpointView):
    @extend_schema(
        tags=["endpoints"],
        summary="Recover failed deliveries",
        description="Re-sends every delivery to this endpoint that ended failed in "
        "[since, until), as a background job; read its progress at /jobs/{id}/.",
        parameters=[TENANT_PARAM],
        request=RecoverInSerializer,
        responses=responses({202: JobOutSerializer}, 400, 404),
    )
    def post(self, request: Request, tenant: str, endpoint: str) -> Response:
        target = self.get_endpoint()
        data = self.parse(RecoverInSerializer, request.data)
        with transaction.atomic():
            job = job_recover_create(endpoint=target, since=data["since"], until=data.get("until"))
            audit_record(
                action="endpoint.recover",
                api_key=self.api_key,
                tenant=self.tenant,
                target=target,
                details={"job_id": job.pk, **job.params},
            )
        return Response(JobOutSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class EndpointStatsView(EndpointView):
    @extend_schema(
        tags=["endpoints"],
        parameters=[TENANT_PARAM, StatsQuerySerializer],
        responses=responses({200: StatsOutSerializer}, 400, 404),
    )
    def get(self, request: Request, tenant: str, endpoint: str) -> Response:
        target = self.get_endpoint()
        query = self.parse_query(StatsQuerySerializer)
        stats = selectors.endpoint_stats(
            endpoint=target, since=query.get("since"), until=query.get("until")
        )
        return Response(StatsOutSerializer(stats).data)


class JobDetailView(TenantView):
    permission_classes = [HasApiKey]

    @extend_schema(
        tags=["jobs"], parameters=[TENANT_PARAM], responses=responses({200: JobOutSerializer}, 404)
    )
    def get(self, request: Request, tenant: str, job: str) -> Response:
        found = selectors.job_get(tenant=self.tenant, job_id=job)
        if found is None:
            raise exceptions.NotFound(f"No job {job!r}.")
        return Response(JobOutSerializer(found).data)


# --- Events ----------------------------------------------------------------------------------


class EventListView(TenantView):
    permission_classes = [HasApiKey]

    @extend_schema(
        operation_id="events_list",
        tags=["events"],
        parameters=[TENANT_PARAM, EventListQuerySerializer],
        responses=responses({200: paginated(EventOutSerializer)}, 400, 404),
    )
    def get(self, request: Request, tenant: str) -> Response:
        query = self.parse_query(EventListQuerySerializer)
        qs = selectors.events_filter(
            tenant=self.tenant,
            event_type=query.get("event_type"),
            since=query.get("since"),
            until=query.get("until"),
            scheduled=query.get("scheduled"),
        )
        return page_response(qs, query, EventOutSerializer)

    @extend_schema(
        tags=["events"],
        summary="Publish an event",
        parameters=[TENANT_PARAM, IDEMPOTENCY_KEY],
        request=EventCreateInSerializer,
        responses=responses({202: EventOutSerializer}, 400, 404),
    )
    def post(self, request: Request, tenant: str) -> Response:
        data = self.parse(EventCreateInSerializer, request.data)
        event = event_publish(
            tenant=self.tenant,
            event_type=data["event_type"],
            payload=data["payload"],
            idempotency_key=_idempotency_key(data, request),
            channels=data.get("channels"),
            deliver_at=data.get("deliver_at"),
        )
        return Response(EventOutSerializer(event).data, status=status.HTTP_202_ACCEPTED)


def _idempotency_key(data: dict[str, Any], request: Request) -> str | None:
    """The key of a single publish: ``idempotency_key`` in the body or the ``Idempotency-Key``
    header (both given must be the same key)."""
    header = request.headers.get("Idempotency-Key")
    body = data.get("idempotency_key")
    if header is not None and body is not None and header != body:
        raise exceptions.ValidationError(
            {"idempotency_key": ["The body and the Idempotency-Key header name different keys."]}
        )
    return body if body is not None else header


_JSON_KINDS = {
    type(None): "null",
    str: "a string",
    list: "an array",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


class EventBatchView(TenantView):
    permission_classes = [HasApiKey]

    @extend_schema(
        tags=["events"],
        summary="Publish up to 1,000 events",
        description="One INSERT for every item that passes; each item gets its own result, in "
        "request order, with the error a single publish would give. The request body is limited "
        "to Django's `DATA_UPLOAD_MAX_MEMORY_SIZE` (2.5 MB by default).",
        parameters=[TENANT_PARAM],
        request=EventBatchInSerializer,
        responses=responses({202: EventBatchOutSerializer}, 400, 404),
    )
    def post(self, request: Request, tenant: str) -> Response:
        raw = self.parse(EventBatchInSerializer, request.data)["events"]
        shape_errors: dict[int, dict] = {}
        valid: list[tuple[int, dict]] = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                # null, a string or a list: this item's error, as any other bad item.
                kind = _JSON_KINDS.get(type(item), "not an object")
                shape_errors[index] = validation_error_body(
                    {"non_field_errors": [f"Each event must be a JSON object; this one is {kind}."]}
                )["error"]
                continue
            serializer = EventBatchItemInSerializer(data=item)
            unknown = unknown_fields(serializer, item)
            if unknown:
                shape_errors[index] = validation_error_body(unknown)["error"]
            elif serializer.is_valid():
                valid.append((index, serializer.validated_data))
            else:
                shape_errors[index] = validation_error_body(serializer.errors)["error"]
        published = dict(
            zip(
                [index for index, _ in valid],
                events_publish(tenant=self.tenant, items=[item for _, item in valid]),
                strict=True,
            )
        )
        data = [
            _batch_item(index, published.get(index), shape_errors.get(index))
            for index in range(len(raw))
        ]
        counts = {s: sum(1 for d in data if d["status"] == s) for s in ("created", "existing")}
        return Response(
            {"data": data, **counts, "errors": len(data) - sum(counts.values())},
            status=status.HTTP_202_ACCEPTED,
        )


@extend_schema_view(post=extend_schema(exclude=True))
class EventBatchSlashView(EventBatchView):
    """``.../events/batch/``: the same operation, documented once (without the slash)."""


def _batch_item(index: int, result: PublishResult | None, shape_error: dict | None) -> dict:
    if result is None:
        return {"index": index, "status": "error", "event": None, "error": shape_error}
    if result.status == "error":
        error = error_body(result.code, result.error)["error"]
        return {"index": index, "status": "error", "event": None, "error": error}
    event = EventOutSerializer(result.event).data
    return {"index": index, "status": result.status, "event": event, "error": None}


class EventDetailView(TenantView):
    permission_classes = [HasApiKey]

    @extend_schema(
        tags=["events"],
        parameters=[TENANT_PARAM],
        responses=responses({200: EventDetailOutSerializer}, 404),
    )
    def get(self, request: Request, tenant: str, event: str) -> Response:
        found: Event | None = selectors.event_get(tenant=self.tenant, event_id=event)
        if found is None:
            raise exceptions.NotFound(f"No event {event!r}.")
        deliveries = selectors.deliveries_filter(tenant=self.tenant).filter(event=found)
        deliveries = deliveries.order_by("id")
        return Response(EventDetailOutSerializer(found, context={"deliveries": deliveries}).data)


# --- Deliveries ------------------------------------------------------------------------------


class DeliveryListView(TenantView):
    permission_classes = [HasApiKey]

    @extend_schema(
        operation_id="deliveries_list",
        tags=["deliveries"],
        parameters=[TENANT_PARAM, DeliveryListQuerySerializer],
        responses=responses({200: paginated(DeliveryOutSerializer)}, 400, 404),
    )
    def get(self, request: Request, tenant: str) -> Response:
        query = self.parse_query(DeliveryListQuerySerializer)
        qs = selectors.deliveries_filter(
            tenant=self.tenant,
            endpoint=query.get("endpoint"),
            status=query.get("status"),
            event_type=query.get("event_type"),
            since=query.get("since"),
            until=query.get("until"),
        )
        return page_response(qs, query, DeliveryOutSerializer)


class DeliveryView(TenantView):
    permission_classes = [HasApiKey]

    def get_delivery(self) -> Delivery:
        found = selectors.delivery_get(tenant=self.tenant, delivery_id=self.kwargs["delivery"])
        if found is None:
            raise exceptions.NotFound(f"No delivery {self.kwargs['delivery']!r}.")
        return found


class DeliveryDetailView(DeliveryView):
    @extend_schema(
        tags=["deliveries"],
        parameters=[TENANT_PARAM],
        responses=responses({200: DeliveryDetailOutSerializer}, 404),
    )
    def get(self, request: Request, tenant: str, delivery: str) -> Response:
        found = self.get_delivery()
        newest = selectors.delivery_attempts(delivery=found).order_by("-id")
        attempts = list(newest[: DETAIL_ATTEMPTS + 1])
        return Response(DeliveryDetailOutSerializer(found, context={"attempts": attempts}).data)


class DeliveryAttemptsView(DeliveryView):
    @extend_schema(
        tags=["deliveries"],
        summary="A delivery's attempts",
        description="Every attempt of the delivery, newest first, in pages.",
        parameters=[TENANT_PARAM, PageQuerySerializer],
        responses=responses({200: paginated(AttemptOutSerializer)}, 400, 404),
    )
    def get(self, request: Request, tenant: str, delivery: str) -> Response:
        found = self.get_delivery()
        query = self.parse_query(PageQuerySerializer)
        return page_response(
            selectors.delivery_attempts(delivery=found), query, AttemptOutSerializer
        )


class DeliveryReplayView(DeliveryView):
    @extend_schema(
        tags=["deliveries"],
        summary="Replay a delivery",
        description="Sends it again now, whatever its state, as an attempt with trigger manual.",
        parameters=[TENANT_PARAM],
        request=None,
        responses=responses({202: DeliveryOutSerializer}, 400, 404),
    )
    def post(self, request: Request, tenant: str, delivery: str) -> Response:
        found = self.get_delivery()
        with transaction.atomic():
            replayed = delivery_replay(delivery=found)
            audit_record(
                action="delivery.replay", api_key=self.api_key, tenant=self.tenant, target=found
            )
        return Response(DeliveryOutSerializer(replayed).data, status=status.HTTP_202_ACCEPTED)
