"""Svix's polling endpoints (``message.poller`` in the SDKs) on a poll endpoint's feed: the sink
is the endpoint (by id or uid), the iterator our cursor."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework import serializers as S  # noqa: N812
from rest_framework.request import Request
from rest_framework.response import Response

from deliveries.feed import (
    CursorExpired,
    FeedError,
    FeedPage,
    consumer_read,
    consumer_seek,
    cursor_position,
    cursor_text,
    feed_position_at,
    feed_read,
)
from endpoints import selectors
from endpoints.models import Endpoint
from platform_core.api.throttling import ApiKeyThrottle, PollThrottle

from .base import SvixError, SvixView, invalid, parse_limit, parse_time
from .serializers import _time

TAG = ["Message Poller"]


def _page(page: FeedPage) -> dict[str, Any]:
    return {
        "data": [
            {
                "id": e.event_id,
                "eventId": e.idempotency_key,
                "eventType": e.event_type,
                "payload": e.payload if isinstance(e.payload, dict) else {"data": e.payload},
                # The exact bytes the signatures in ``headers`` are over (an addition to
                # Svix's PollingEndpointMessageOut; its SDKs ignore keys they do not know).
                "body": e.body,
                "channels": e.channels or None,
                "tags": e.tags or None,
                "timestamp": _time(e.timestamp),
                "headers": e.headers,
            }
            for e in page.entries
        ],
        "iterator": page.next_cursor,
        "done": page.done,
    }


def _svix_error(exc: FeedError, where: str) -> Exception:
    if isinstance(exc, CursorExpired):
        return SvixError(
            410, "iterator_expired", f"{exc} The oldest iterator is {cursor_text(exc.oldest)}."
        )
    return invalid("query", exc.field if exc.field != "cursor" else where, str(exc))


class PollingEndpointOut(S.Serializer):
    data = S.ListField(child=S.DictField())
    iterator = S.CharField()
    done = S.BooleanField()


class SeekIn(S.Serializer):
    after = S.DateTimeField()


class SeekOut(S.Serializer):
    iterator = S.CharField()


class _PollerBase(SvixView):
    throttle_classes = [ApiKeyThrottle, PollThrottle]

    def sink(self) -> Endpoint:
        found = selectors.endpoint_get_by_key(tenant=self.app(), key=self.kwargs["sink"])
        if found is None or found.kind != Endpoint.Kind.POLL:
            raise exceptions.NotFound()
        return found


class PollerView(_PollerBase):
    @extend_schema(tags=TAG, responses={200: PollingEndpointOut})
    def get(self, request: Request, app: str, sink: str) -> Response:
        endpoint = self.sink()
        params = request.query_params
        if params.get("channel"):
            raise invalid(
                "query", "channel", "Filtering a poller by channel is not supported here."
            )
        limit = parse_limit(params.get("limit"))
        after_time = parse_time(params.get("after"), "after")
        try:
            if params.get("iterator"):
                after = cursor_position(params["iterator"])
            elif after_time is not None:
                after = feed_position_at(endpoint, after_time)
            else:
                after = 0
            page = feed_read(
                endpoint=endpoint,
                after=after,
                limit=limit,
                event_type=params.get("event_type") or None,
                api_key_prefix=self.api_key.prefix,
            )
        except FeedError as exc:
            raise _svix_error(exc, "iterator") from exc
        return Response(_page(page))


class ConsumerView(_PollerBase):
    read_only_refused = (
        "reading as a named consumer moves (or creates) it; read the feed with a cursor instead."
    )

    @extend_schema(tags=TAG, responses={200: PollingEndpointOut})
    def get(self, request: Request, app: str, sink: str, consumer: str) -> Response:
        endpoint = self.sink()
        try:
            page = consumer_read(
                endpoint=endpoint,
                name=consumer,
                iterator=request.query_params.get("iterator") or None,
                limit=parse_limit(request.query_params.get("limit")),
                api_key_prefix=self.api_key.prefix,
            )
        except FeedError as exc:
            raise _svix_error(exc, "iterator") from exc
        return Response(_page(page))


class ConsumerSeekView(_PollerBase):
    @extend_schema(tags=TAG, request=SeekIn, responses={200: SeekOut})
    def post(self, request: Request, app: str, sink: str, consumer: str) -> Response:
        endpoint = self.sink()
        data = self.parse(SeekIn, self.body())
        try:
            position = consumer_seek(endpoint=endpoint, name=consumer, after=data["after"])
        except FeedError as exc:
            raise _svix_error(exc, "after") from exc
        return Response({"iterator": cursor_text(position)})
