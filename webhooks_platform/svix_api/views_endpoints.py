"""Endpoints of an application: CRUD, secret, headers, stats, recover, send-example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from deliveries.selectors import endpoint_stats
from deliveries.services import endpoint_lifecycle
from deliveries.services.jobs import job_recover_create
from deliveries.services.publishing import event_send_test
from endpoints import selectors, services
from endpoints.models import Endpoint, EventType, Tenant

from . import serializers as s
from .base import SvixError, SvixView, int_id, invalid, page, parse_time

TAG = ["svix: endpoint"]
STATS_MAX_SPAN = timedelta(days=28, minutes=5)
RECOVER_MAX_AGE = timedelta(days=14, minutes=5)


def _secret(value: str | None) -> str | None:
    """Svix takes a secret with or without its ``whsec_`` prefix; a ``whsk_`` Ed25519 signing
    key stays one (the service checks it fits the endpoint's signature style)."""
    if value is None or value.startswith(("whsec_", "whsk_")):
        return value
    return "whsec_" + value


def endpoint_fields(data: dict[str, Any], *, replace: bool) -> dict[str, Any]:
    """Service arguments from an EndpointIn/Patch body; ``replace`` (PUT): unset means cleared."""
    out: dict[str, Any] = {}
    if "url" in data:
        out["url"] = data["url"]
    if "description" in data or replace:
        out["description"] = data.get("description", "")
    for ours, names in (
        ("event_types", ("eventTypes", "filterTypes")),
        ("rate_limit", ("throttleRate", "rateLimit")),
    ):
        given = [n for n in names if n in data]
        if given:
            out[ours] = data[given[0]]
        elif replace:
            out[ours] = None
    for name in ("uid", "channels", "metadata"):
        if name in data:
            out[name] = data[name]
        elif replace:
            out[name] = {} if name == "metadata" else None
    if "disabled" in data or replace:
        out["enabled"] = not data.get("disabled", False)
    if "headers" in data:
        out["headers"] = data["headers"]
    return out


def endpoint_create(tenant: Tenant, data: dict[str, Any], *, uid: str | None = None) -> Endpoint:
    fields = endpoint_fields(data, replace=False)
    if uid is not None:
        fields["uid"] = uid
    if fields.get("event_types") is None:
        fields.pop("event_types", None)
    if fields.get("rate_limit") is None:
        fields.pop("rate_limit", None)
    endpoint, _ = services.endpoint_create(
        tenant=tenant, secret=_secret(data.get("secret")), **fields
    )
    return endpoint


def endpoint_update(endpoint: Endpoint, data: dict[str, Any], *, replace: bool) -> Endpoint:
    fields = endpoint_fields(data, replace=replace)
    if "event_types" in fields and fields["event_types"] is None:
        fields["event_types"] = []
    endpoint_lifecycle.endpoint_update(endpoint=endpoint, **fields)
    return selectors.endpoint_get_by_key(tenant=endpoint.tenant, key=endpoint.pk) or endpoint


class EndpointListView(SvixView):
    @extend_schema(tags=TAG, responses={200: s.listed(s.EndpointOut)})
    def get(self, request: Request, app: str) -> Response:
        tenant = self.app()
        order = request.query_params.get("order") or "descending"
        return page(
            Endpoint.objects.filter(tenant=tenant, deleted_at__isnull=True).prefetch_related(
                "event_types"
            ),
            request,
            lambda rows: s.EndpointOut(rows, many=True).data,
            key="id",
            descending=order != "ascending",
        )

    @extend_schema(tags=TAG, request=s.EndpointIn, responses={201: s.EndpointOut})
    def post(self, request: Request, app: str) -> Response:
        tenant = self.app()
        data = self.parse(s.EndpointIn, self.body())
        with transaction.atomic():
            endpoint = endpoint_create(tenant, data)
            services.audit_record(action="endpoint.create", api_key=self.api_key, target=endpoint)
        return Response(s.EndpointOut(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointSubView(SvixView):
    def endpoint(self) -> Endpoint:
        found = selectors.endpoint_get_by_key(tenant=self.app(), key=self.kwargs["endpoint"])
        if found is None:
            raise exceptions.NotFound()
        return found


class EndpointDetailView(EndpointSubView):
    @extend_schema(tags=TAG, responses={200: s.EndpointOut})
    def get(self, request: Request, app: str, endpoint: str) -> Response:
        return Response(s.EndpointOut(self.endpoint()).data)

    @extend_schema(tags=TAG, request=s.EndpointIn, responses={200: s.EndpointOut})
    def put(self, request: Request, app: str, endpoint: str) -> Response:
        tenant = self.app()
        data = self.parse(s.EndpointIn, self.body())
        found = selectors.endpoint_get_by_key(tenant=tenant, key=endpoint)
        with transaction.atomic():
            if found is None:
                if endpoint.startswith("ep_"):
                    raise exceptions.NotFound()
                created = endpoint_create(tenant, data, uid=endpoint)
                services.audit_record(
                    action="endpoint.create", api_key=self.api_key, target=created
                )
                return Response(s.EndpointOut(created).data, status=status.HTTP_201_CREATED)
            updated = endpoint_update(found, data, replace=True)
            services.audit_record(action="endpoint.update", api_key=self.api_key, target=found)
        return Response(s.EndpointOut(updated).data)

    @extend_schema(tags=TAG, request=s.EndpointPatch, responses={200: s.EndpointOut})
    def patch(self, request: Request, app: str, endpoint: str) -> Response:
        found = self.endpoint()
        data = self.parse(s.EndpointPatch, self.body(), partial=True)
        with transaction.atomic():
            updated = endpoint_update(found, data, replace=False)
            services.audit_record(action="endpoint.update", api_key=self.api_key, target=found)
        return Response(s.EndpointOut(updated).data)

    @extend_schema(tags=TAG, responses={204: None})
    def delete(self, request: Request, app: str, endpoint: str) -> Response:
        found = self.endpoint()
        with transaction.atomic():
            endpoint_lifecycle.endpoint_delete(endpoint=found)
            services.audit_record(action="endpoint.delete", api_key=self.api_key, target=found)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointSecretView(EndpointSubView):
    read_only_refused = "it cannot read signing secrets."

    @extend_schema(tags=TAG, responses={200: s.SecretOut})
    def get(self, request: Request, app: str, endpoint: str) -> Response:
        key = services.endpoint_secret_current(endpoint=self.endpoint())
        return Response({"key": key})


class EndpointSecretRotateView(EndpointSubView):
    @extend_schema(tags=TAG, request=s.RotateIn, responses={200: s.SecretOut})
    def post(self, request: Request, app: str, endpoint: str) -> Response:
        # SDK 2.x before 2.9 ignores the body; 2.9 reads the new key from it.
        found = self.endpoint()
        data = self.parse(s.RotateIn, self.body() if request.data else {})
        with transaction.atomic():
            try:
                key = services.endpoint_secret_rotate(
                    endpoint=found,
                    secret=_secret(data.get("key")),
                    grace_period_seconds=data.get("gracePeriodSeconds"),
                )
            except ValidationError as exc:
                # The service names its argument ``secret``; this body calls it ``key``.
                fields = getattr(exc, "message_dict", {})
                if "secret" not in fields:
                    raise
                raise invalid("body", "key", fields["secret"][0]) from exc
            services.audit_record(
                action="endpoint.secret_rotate", api_key=self.api_key, target=found
            )
        return Response({"key": key})


def _headers_out(headers: dict[str, str]) -> dict[str, Any]:
    # Credential headers are listed by name only (Svix's ``sensitive``).
    shown = {k: v for k, v in headers.items() if not services.is_sensitive_header(k)}
    return {"headers": shown, "sensitive": sorted(k for k in headers if k not in shown)}


class EndpointHeadersView(EndpointSubView):
    @extend_schema(tags=TAG, responses={200: s.HeadersOut})
    def get(self, request: Request, app: str, endpoint: str) -> Response:
        return Response(_headers_out(dict(self.endpoint().headers or {})))

    def _write(self, headers: dict[str, Any]) -> Response:
        found = self.endpoint()
        with transaction.atomic():
            endpoint_lifecycle.endpoint_update(endpoint=found, headers=headers)
            services.audit_record(
                action="endpoint.headers_update", api_key=self.api_key, target=found
            )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(tags=TAG, request=s.HeadersIn, responses={204: None})
    def put(self, request: Request, app: str, endpoint: str) -> Response:
        data = self.parse(s.HeadersIn, self.body())
        if any(v is None for v in data["headers"].values()):
            raise invalid("body", "headers", "Header values are strings.")
        return self._write(dict(data["headers"]))

    @extend_schema(tags=TAG, request=s.HeadersIn, responses={204: None})
    def patch(self, request: Request, app: str, endpoint: str) -> Response:
        data = self.parse(s.HeadersIn, self.body())
        current = dict(self.endpoint().headers or {})
        gone = {k.lower() for k, v in data["headers"].items() if v is None}
        gone |= {k.lower() for k in data.get("deleteHeaders") or ()}
        merged = {k: v for k, v in current.items() if k.lower() not in gone}
        for name, value in data["headers"].items():
            if value is not None:
                merged = {k: v for k, v in merged.items() if k.lower() != name.lower()}
                merged[name] = value
        return self._write(merged)


class EndpointStatsView(EndpointSubView):
    @extend_schema(tags=TAG, responses={200: s.StatsOut})
    def get(self, request: Request, app: str, endpoint: str) -> Response:
        found = self.endpoint()
        now = timezone.now()
        until = parse_time(request.query_params.get("until"), "until")
        since = parse_time(request.query_params.get("since"), "since")
        if until is not None and until > now + timedelta(minutes=5):
            raise SvixError(400, "invalid_range", "'until' cannot be in the future.")
        try:
            since = since or (until or now) - timedelta(days=28)
        except OverflowError:  # 28 days before the calendar's first days: from its first
            since = datetime.min.replace(tzinfo=UTC)
        if (until or now) - since > STATS_MAX_SPAN:
            raise SvixError(400, "invalid_range", "The range may span at most 28 days.")
        counts = endpoint_stats(endpoint=found, since=since, until=until)["deliveries"]
        pending = counts["pending"] + counts["held"]  # Svix has no held: it is pending there
        return Response(
            {
                "success": counts["succeeded"],
                "pending": pending,
                "sending": counts["sending"],
                "fail": counts["failed"],
                "canceled": counts["cancelled"],
            }
        )


class EndpointRecoverView(EndpointSubView):
    @extend_schema(tags=TAG, request=s.RecoverIn, responses={202: s.RecoverOut})
    def post(self, request: Request, app: str, endpoint: str) -> Response:
        found = self.endpoint()
        data = self.parse(s.RecoverIn, self.body())
        if data["since"] < timezone.now() - RECOVER_MAX_AGE:
            raise invalid("body", "since", "Cannot recover messages more than 14 days old.")
        with transaction.atomic():
            job = job_recover_create(endpoint=found, since=data["since"], until=data.get("until"))
            services.audit_record(
                action="endpoint.recover",
                api_key=self.api_key,
                tenant=found.tenant,
                target=found,
                details={"job_id": job.pk, **job.params},
            )
        return Response(recover_out(job), status=status.HTTP_202_ACCEPTED)


def recover_out(job: Any) -> dict[str, Any]:
    state = {"queued": "running", "running": "running", "succeeded": "finished"}
    return {
        "id": int_id("qtask_", job.pk),
        "status": state.get(job.status, "failed"),
        "task": "endpoint.recover",
        "updatedAt": s._time(job.finished_at or job.started_at or job.created_at),
    }


PING_TYPE = "svix.ping"


class EndpointSendExampleView(EndpointSubView):
    @extend_schema(tags=TAG, request=s.ExampleIn, responses={202: s.MessageOut})
    def post(self, request: Request, app: str, endpoint: str) -> Response:
        found = self.endpoint()
        data = self.parse(s.ExampleIn, self.body())
        name = data["eventType"]
        if name == PING_TYPE:
            type_obj, _ = EventType.objects.get_or_create(
                name=PING_TYPE, defaults={"description": "A test message from send-example."}
            )
            payload: Any = {"success": True}
        else:
            type_obj = EventType.objects.filter(name=name, internal=False).first()
            if type_obj is None:
                raise exceptions.NotFound()
            payload = _example(type_obj, data.get("exampleIndex", 0))
        event = event_send_test(endpoint=found, event_type=type_obj, payload=payload)
        return Response(s.message_out(event, with_content=True), status=status.HTTP_202_ACCEPTED)


def _example(event_type: EventType, index: int) -> Any:
    """Svix's ``schemas["1"].examples[i]``, else the native catalogue's example."""
    schema = (event_type.schemas or {}).get("1") or event_type.schema or {}
    examples = schema.get("examples") if isinstance(schema, dict) else None
    if isinstance(examples, list) and len(examples) > index:
        return examples[index]
    if event_type.example is not None and index == 0:
        return event_type.example
    raise SvixError(400, "invalid_scheme", f"Event type {event_type.name!r} has no example.")
