"""Turning a claimed delivery into a signed request for the transport."""

from __future__ import annotations

import functools

from django.utils import timezone

from deliveries import signing, transport
from deliveries.destinations.base import Message, Target
from deliveries.destinations.sender import DestinationRequest
from endpoints import destinations
from endpoints.models import EventType
from endpoints.services import headers_redacted
from platform_core.conf import WebhooksSettings

from .claim import Claimed
from .endpoint_cache import EndpointView
from .flight import Flight


def transport_options(ws: WebhooksSettings) -> transport.TransportOptions:
    return transport.TransportOptions(
        timeout=ws.attempt_timeout,
        allowed_subnets=ws.allowed_subnets,
        body_limit=ws.response_body_limit,
        require_https=ws.require_https,
        dns_failure_ttl=ws.dns_failure_ttl,
    )


@functools.lru_cache(maxsize=4096)
def event_type_name(type_id: int | None) -> str:
    """An event type's name (names never change once created), read once per process."""
    if type_id is None:
        return ""
    return EventType.objects.filter(pk=type_id).values_list("name", flat=True).first() or ""


# Request headers that are HTTP framing, not message attributes, for a destination.
_NOT_ATTRIBUTES = frozenset({"content-type", "user-agent", "content-length"})


def flight_new(item: Claimed, view: EndpointView) -> Flight:
    return Flight(
        claimed=item,
        url=view.url,
        had_failures=view.had_failures,
        endpoint_schedule=view.retry_schedule,
        ordered=view.ordered,
    )


def signed_request(
    item: Claimed,
    view: EndpointView,
    *,
    timestamp: int,
    flight: Flight | None = None,
) -> tuple[Flight, transport.OutboundRequest | DestinationRequest | transport.AttemptResult]:
    """The flight to track and the request to send, or the failed try to record instead when
    the delivery cannot be sent (no live secret, or a body retention removed). A delivery its
    endpoint's transformation shaped (``item.transformed``) is sent as stored: the same method,
    URL and body on every try."""
    flight = flight or flight_new(item, view)
    problem = ""
    if not signing.keys_for(view.signature_style, view.secrets):
        problem = "no live signing secret"
    elif item.body == "":
        # Retention blanked the body between a replay's check and now: never send "".
        problem = "event payload was removed by retention"
    if problem:
        return flight, transport.AttemptResult(
            key=item.id, started_at=timezone.now(), duration_ms=0, error=problem
        )
    created = item.event_created_at
    shaped = item.transformed if item.transformed and "body" in item.transformed else None
    url, body, method = view.url, item.body, "POST"
    if shaped is not None:
        url, body, method = shaped["url"], shaped["body"], shaped["method"]
        flight.method = method
        flight.transformation_version = shaped["version"]
    signed = signing.request_signed(
        url=url,
        custom=view.headers,
        secrets=view.secrets,
        msg_id=item.event_id,
        timestamp=timestamp,
        body=body.encode("utf-8"),
        svix_format=item.svix_format,
        test=item.test,
        style=view.signature_style,
        event_type=(
            event_type_name(item.event_type_id)
            if view.signature_style in (signing.GITHUB, signing.STRIPE)
            else ""
        ),
        created=int(created.timestamp()) if created is not None else timestamp,
    )
    # What the attempt log keeps: credentials in custom headers are not copied into it.
    flight.headers = headers_redacted(signed.headers)
    flight.url = signed.url
    if destinations.is_destination(view.kind):
        # The same body and signature as a webhook, the headers as message attributes.
        flight.url = view.url
        return flight, DestinationRequest(
            target=Target(
                endpoint=item.endpoint_id,
                kind=view.kind,
                config=view.destination,
                ordered=view.ordered,
                allowed_subnets=view.allowed_subnets,
            ),
            message=Message(
                key=item.id,
                event_id=item.event_id,
                event_type=event_type_name(item.event_type_id),
                tenant=str(item.tenant_id),
                body=signed.body,
                attributes={
                    k: v for k, v in signed.headers.items() if k.lower() not in _NOT_ATTRIBUTES
                },
                timestamp=timestamp,
                created=int(created.timestamp()) if created is not None else timestamp,
            ),
        )
    return flight, transport.OutboundRequest(
        key=item.id,
        url=signed.url,
        headers=signed.headers,
        body=signed.body,
        group=item.endpoint_id,
        tenant=str(item.tenant_id),
        allowed_subnets=view.allowed_subnets,
        method=method,
    )
