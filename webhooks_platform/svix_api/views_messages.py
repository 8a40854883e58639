"""Messages (events) and message attempts of the Svix-compatible API."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from deliveries.errors import PublishError
from deliveries.models import Attempt, Delivery, Event
from deliveries.services.lifecycle import delivery_replay
from deliveries.services.publishing import deliver_at_validate, event_publish, tenant_kept
from deliveries.services.retention import attempt_expunge, event_expunge
from endpoints import selectors, services
from endpoints.models import Endpoint, EventType, Tenant

from . import serializers as s
from .base import (
    SvixError,
    SvixView,
    int_cursor,
    int_from_id,
    invalid,
    page,
    parse_bool,
    parse_list,
    parse_time,
)
from .views_apps import app_get_or_create

TAG_MSG = ["svix: message"]
TAG_ATTEMPT = ["svix: message attempt"]


def _with_content(request: Request) -> bool:
    return parse_bool(request.query_params.get("with_content"), "with_content", True)


def _event_type_ensure(name: str, *, may_create: bool) -> EventType:
    """Svix takes messages of types it has not been told about; the catalogue learns them, but
    only from a platform key: the catalogue is global, so a tenant key may not add to it (its
    message of an unknown type is a 422 on ``eventType``, as Svix answers a bad field)."""
    found = EventType.objects.filter(name=name).first()
    if found is not None:
        return found
    if not may_create:
        raise invalid(
            "body",
            "eventType",
            f"Unknown event type {name!r}: a platform API key adds event types to the catalogue.",
        )
    try:
        return services.event_type_create(name=name)
    except services.AlreadyExists:
        return EventType.objects.get(name=name)


def _channel_filter(qs: QuerySet[Any], field: str, channel: str | None) -> QuerySet[Any]:
    if not channel:
        return qs
    # Channel names cannot hold a quote, so the quoted name matches one whole element.
    return qs.filter(**{f"{field}__icontains": f'"{channel}"'})


def _time_window(qs: QuerySet[Any], field: str, request: Request) -> QuerySet[Any]:
    before = parse_time(request.query_params.get("before"), "before")
    after = parse_time(request.query_params.get("after"), "after")
    if before is not None:
        qs = qs.filter(**{f"{field}__lt": before})
    if after is not None:
        qs = qs.filter(**{f"{field}__gt": after})
    return qs


class AppScopedView(SvixView):
    def message(self, tenant: Tenant) -> Event:
        key = self.kwargs["msg"]
        found = (
            Event.objects.filter(Q(pk=key) | Q(idempotency_key=key), tenant=tenant)
            .select_related("event_type")
            .order_by("-created_at")
            .first()
        )
        if found is None:
            raise exceptions.NotFound()
        return found

    def endpoint_of(self, tenant: Tenant) -> Endpoint:
        found = selectors.endpoint_get_by_key(tenant=tenant, key=self.kwargs["endpoint"])
        if found is None:
            raise exceptions.NotFound()
        return found


class MessageListView(AppScopedView):
    @extend_schema(tags=TAG_MSG, responses={200: s.listed(s.MessageOut)})
    def get(self, request: Request, app: str) -> Response:
        tenant = self.app()
        qs = Event.objects.filter(tenant=tenant).select_related("event_type")
        qs = _channel_filter(qs, "channels", request.query_params.get("channel"))
        tag = request.query_params.get("tag")
        qs = _channel_filter(qs, "tags", tag)
        types = parse_list(request, "event_types")
        if types:
            qs = qs.filter(event_type__name__in=types)
        qs = _time_window(qs, "created_at", request)
        context = {"with_content": _with_content(request)}
        return page(
            qs,
            request,
            lambda rows: s.MessageOut(rows, many=True, context=context).data,
            key="id",
            descending=True,
        )

    @extend_schema(tags=TAG_MSG, request=s.MessageIn, responses={202: s.MessageOut})
    def post(self, request: Request, app: str) -> Response:
        data = self.parse(s.MessageIn, self.body())
        tenant = self.app_if_any()
        if tenant is None:
            self.platform_only()
            tenant = app_get_or_create(data.get("application") or {}, app)
        try:
            deliver_at = deliver_at_validate(data.get("deliverAt"), now=timezone.now())
        except PublishError as exc:
            raise invalid("body", "deliverAt", str(exc)) from exc
        payload = data.get("payload", data.get("data"))
        if payload is None:
            raise invalid("body", "payload", "payload is required (a JSON object).")
        with tenant_kept(tenant), transaction.atomic():
            event = event_publish(
                tenant=tenant,
                event_type=_event_type_ensure(
                    data["eventType"], may_create=self.api_key.is_platform
                ),
                payload=payload,
                idempotency_key=data.get("eventId"),
                channels=data.get("channels"),
                tags=data.get("tags"),
                repeat_raises=True,
                deliver_at=deliver_at,
            )
        body = s.message_out(event, with_content=_with_content(request))
        return Response(body, status=status.HTTP_202_ACCEPTED)


class MessageDetailView(AppScopedView):
    @extend_schema(tags=TAG_MSG, responses={200: s.MessageOut})
    def get(self, request: Request, app: str, msg: str) -> Response:
        event = self.message(self.app())
        return Response(s.message_out(event, with_content=_with_content(request)))


class MessageContentView(AppScopedView):
    @extend_schema(tags=TAG_MSG, responses={204: None})
    def delete(self, request: Request, app: str, msg: str) -> Response:
        event = self.message(self.app())
        with transaction.atomic():
            event_expunge(event=event)
            services.audit_record(
                action="event.expunge",
                api_key=self.api_key,
                tenant=event.tenant,
                target=event,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- attempts ----------------------------------------------------------------------------------

# Svix's status_code_class: 0 means no HTTP answer (our 0) and 1xx; 500 covers 5xx and beyond.
STATUS_CODE_CLASSES = {
    "0": (0, 100),
    "100": (100, 200),
    "200": (200, 300),
    "300": (300, 400),
    "400": (400, 500),
    "500": (500, 1000),
}


def _attempt_filters(qs: QuerySet[Attempt], request: Request) -> QuerySet[Attempt]:
    query = request.query_params
    if query.get("status") not in (None, ""):
        wanted = query["status"]
        if wanted == "0":
            qs = qs.filter(response_status__gte=200, response_status__lt=300)
        elif wanted == "2":
            qs = qs.exclude(response_status__gte=200, response_status__lt=300)
        elif wanted in ("1", "3", "4"):
            qs = qs.none()  # an attempt is over: it succeeded or failed
        else:
            raise invalid("query", "status", "status is 0 to 4")
    if query.get("status_code_class") not in (None, ""):
        try:
            klass = int(query["status_code_class"])
        except ValueError:
            raise invalid(
                "query", "status_code_class", "Use 0, 100, 200, 300, 400 or 500."
            ) from None
        low, high = STATUS_CODE_CLASSES.get(klass, (klass, 600 if klass == 500 else klass + 100))
        if klass not in (0, 100, 200, 300, 400, 500):
            raise invalid("query", "status_code_class", "Use 0, 100, 200, 300, 400 or 500.")
        qs = qs.filter(response_status__gte=low, response_status__lt=high)
    types = parse_list(request, "event_types")
    if types:
        qs = qs.filter(delivery__event_type__name__in=types)
    qs = _channel_filter(qs, "delivery__event__channels", query.get("channel"))
    qs = _channel_filter(qs, "delivery__event__tags", query.get("tag"))
    return _time_window(qs, "started_at", request)


def _newest_first(
    qs: QuerySet[Any], request: Request, out: type[s.S.Serializer], *, prefix: str
) -> Response:
    """One page of ``qs`` newest first by integer id, shown as ``prefix`` + 27 characters."""
    context = {"with_content": _with_content(request)}
    return page(
        qs,
        request,
        lambda rows: out(rows, many=True, context=context).data,
        key="id",
        descending=True,
        **int_cursor(prefix),
    )


def _attempt_page(qs: QuerySet[Attempt], request: Request) -> Response:
    qs = _attempt_filters(qs.select_related("delivery"), request)
    return _newest_first(qs, request, s.AttemptOut, prefix="atmpt_")


class AttemptsByEndpointView(AppScopedView):
    @extend_schema(tags=TAG_ATTEMPT, responses={200: s.listed(s.AttemptOut)})
    def get(self, request: Request, app: str, endpoint: str) -> Response:
        found = self.endpoint_of(self.app())
        return _attempt_page(Attempt.objects.filter(endpoint=found), request)


class AttemptsByMessageView(AppScopedView):
    @extend_schema(tags=TAG_ATTEMPT, responses={200: s.listed(s.AttemptOut)})
    def get(self, request: Request, app: str, msg: str) -> Response:
        tenant = self.app()
        qs = Attempt.objects.filter(delivery__event=self.message(tenant))
        endpoint_key = request.query_params.get("endpoint_id")
        if endpoint_key:
            found = selectors.endpoint_get_by_key(tenant=tenant, key=endpoint_key)
            qs = qs.filter(endpoint=found) if found is not None else qs.none()
        return _attempt_page(qs, request)


class AttemptDetailView(AppScopedView):
    def attempt(self) -> Attempt:
        event = self.message(self.app())
        pk = int_from_id("atmpt_", self.kwargs["attempt"])
        found = (
            Attempt.objects.filter(pk=pk, delivery__event=event).select_related("delivery").first()
            if pk is not None
            else None
        )
        if found is None:
            raise exceptions.NotFound()
        return found

    @extend_schema(tags=TAG_ATTEMPT, responses={200: s.AttemptOut})
    def get(self, request: Request, app: str, msg: str, attempt: str) -> Response:
        return Response(s.AttemptOut(self.attempt()).data)


class AttemptContentView(AttemptDetailView):
    @extend_schema(tags=TAG_ATTEMPT, responses={204: None})
    def delete(self, request: Request, app: str, msg: str, attempt: str) -> Response:
        attempt_expunge(attempt=self.attempt())
        return Response(status=status.HTTP_204_NO_CONTENT)


class AttemptedDestinationsView(AppScopedView):
    @extend_schema(tags=TAG_ATTEMPT, responses={200: s.listed(s.MessageEndpointOut)})
    def get(self, request: Request, app: str, msg: str) -> Response:
        event = self.message(self.app())
        qs = Delivery.objects.filter(event=event).select_related("endpoint")
        qs = qs.prefetch_related("endpoint__event_types")
        return _newest_first(qs, request, s.MessageEndpointOut, prefix="msgep_")


class AttemptedMessagesView(AppScopedView):
    @extend_schema(tags=TAG_ATTEMPT, responses={200: s.listed(s.EndpointMessageOut)})
    def get(self, request: Request, app: str, endpoint: str) -> Response:
        found = self.endpoint_of(self.app())
        qs = Delivery.objects.filter(endpoint=found).select_related("event", "event__event_type")
        qs = _channel_filter(qs, "event__channels", request.query_params.get("channel"))
        types = parse_list(request, "event_types")
        if types:
            qs = qs.filter(event_type__name__in=types)
        wanted = request.query_params.get("status")
        if wanted not in (None, ""):
            if wanted not in DELIVERY_BY_STATUS:
                raise invalid("query", "status", "status is 0 to 4")
            qs = qs.filter(DELIVERY_BY_STATUS[wanted])
        qs = _time_window(qs, "created_at", request)
        return _newest_first(qs, request, s.EndpointMessageOut, prefix="msgep_")


# Svix's message status of a delivery, as a filter (see ``serializers.delivery_status``).
DELIVERY_BY_STATUS = {
    "0": Q(status="succeeded"),
    "1": Q(status="pending", attempt_count=0) | Q(status="held"),
    "2": Q(status="failed"),
    "3": Q(status="sending") | Q(status="pending", attempt_count__gt=0),
    "4": Q(status="cancelled"),
}


class ResendView(AppScopedView):
    @extend_schema(tags=TAG_ATTEMPT, request=None, responses={202: s.Empty})
    def post(self, request: Request, app: str, msg: str, endpoint: str) -> Response:
        tenant = self.app()
        event = self.message(tenant)
        found = self.endpoint_of(tenant)
        delivery = (
            Delivery.objects.filter(event=event, endpoint=found)
            .select_related("event", "endpoint")
            .first()
        )
        if delivery is None:
            raise exceptions.NotFound()
        if event.payload_purged:
            raise SvixError(400, "missing_payload", "The message's payload has expired.")
        with transaction.atomic():
            delivery_replay(delivery=delivery)
            services.audit_record(
                action="delivery.replay",
                api_key=self.api_key,
                tenant=tenant,
                target=delivery,
            )
        return Response({}, status=status.HTTP_202_ACCEPTED)
