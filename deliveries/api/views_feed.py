"""Poll endpoints' feeds over the native API: with a cursor, or by a named consumer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from deliveries.feed import (
    MAX_LIMIT,
    MAX_WAIT_SECONDS,
    CursorExpired,
    FeedError,
    FeedPage,
    consumer_delete,
    consumer_read,
    consumer_seek,
    consumers_lag,
    cursor_position,
    cursor_text,
    feed_read,
)
from deliveries.long_poll import RETRY_AFTER_SECONDS
from endpoints.api.views import TENANT_PARAM, EndpointView
from endpoints.models import Endpoint
from platform_core.api.exceptions import error_body
from platform_core.api.throttling import ApiKeyThrottle, PollThrottle
from platform_core.api.views import responses


class FeedQuerySerializer(serializers.Serializer):
    cursor = serializers.CharField(
        required=False, allow_blank=True, help_text="The next_cursor of the previous read."
    )
    limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=MAX_LIMIT)
    wait = serializers.FloatField(
        required=False,
        default=0,
        min_value=0,
        max_value=MAX_WAIT_SECONDS,
        help_text="Seconds to wait for an event when there is none (long polling). With no "
        "room to wait the read answers at once, with Retry-After.",
    )


class ConsumerQuerySerializer(FeedQuerySerializer):
    cursor = None  # type: ignore[assignment]
    iterator = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The next_cursor of a page this consumer has processed: its stored position "
        "moves there first. Without it the consumer is served from its stored position.",
    )


class SeekInSerializer(serializers.Serializer):
    after = serializers.DateTimeField(
        help_text="The consumer reads next the first event published after this time."
    )


class FeedItemOutSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The event id (webhook-id).")
    event_type = serializers.CharField()
    timestamp = serializers.DateTimeField()
    payload = serializers.JSONField(
        help_text="The body as sent, parsed (null once retention removed it)."
    )
    body = serializers.CharField(
        help_text="The exact body a push would send: the bytes the signatures in `headers` are "
        "over. Verify against this string, not a re-serialisation of `payload`."
    )
    channels = serializers.ListField(child=serializers.CharField())
    headers = serializers.DictField(
        child=serializers.CharField(),
        help_text="The headers a push would carry, signatures included: verify them as a "
        "receiver would.",
    )


class FeedOutSerializer(serializers.Serializer):
    data = FeedItemOutSerializer(many=True)
    next_cursor = serializers.CharField()
    done = serializers.BooleanField(help_text="true: nothing more right now.")


def page_body(page: FeedPage) -> dict[str, Any]:
    return {
        "data": [
            {
                "id": e.event_id,
                "event_type": e.event_type,
                "timestamp": e.timestamp,
                "payload": e.payload,
                "body": e.body,
                "channels": e.channels,
                "headers": e.headers,
            }
            for e in page.entries
        ],
        "next_cursor": page.next_cursor,
        "done": page.done,
    }


def page_response(page: FeedPage) -> Response:
    """The page; a read whose wait was cut short (no room to wait: ``deliveries.long_poll``)
    says when to poll again, as ``Retry-After``."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if page.wait_shortened else None
    return Response(page_body(page), headers=headers)


def feed_error(exc: FeedError) -> Response:
    if isinstance(exc, CursorExpired):
        # The one error shape: where to resume is under fields, as oldest_cursor.
        oldest = cursor_text(exc.oldest)
        body = error_body("cursor_expired", str(exc), {"oldest_cursor": [oldest]})
        return Response(body, status=status.HTTP_410_GONE)
    body = error_body("validation_error", str(exc))
    body["error"]["fields"] = {exc.field: [str(exc)]}
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


class _FeedBase(EndpointView):
    throttle_classes = [ApiKeyThrottle, PollThrottle]

    def poll_endpoint(self) -> Endpoint:
        endpoint = self.get_endpoint()
        if endpoint.kind != Endpoint.Kind.POLL:
            raise exceptions.NotFound(f"Endpoint {endpoint.pk!r} is not a poll endpoint.")
        return endpoint


class FeedView(_FeedBase):
    @extend_schema(
        operation_id="poller_read",
        tags=["pollers"],
        summary="Read a poll endpoint's feed",
        description="The next events after `cursor`, in publish order. Keep `next_cursor` and "
        "hand it back: a consumer that does never misses an event and never sees one twice. "
        "With `wait`, an empty read answers as soon as an event arrives; when too many polls "
        "wait already (per API key, per server process) it answers at once, empty, with the "
        "same cursor and `Retry-After`. A cursor older than "
        "what retention removed answers 410 with `fields.oldest_cursor`.",
        parameters=[TENANT_PARAM, FeedQuerySerializer],
        responses=responses({200: FeedOutSerializer}, 400, 404, 410),
    )
    def get(self, request: Request, tenant: str, endpoint: str) -> Response:
        target = self.poll_endpoint()
        query = self.parse_query(FeedQuerySerializer)
        try:
            page = feed_read(
                endpoint=target,
                after=cursor_position(query.get("cursor")),
                limit=query["limit"],
                wait=query["wait"],
                api_key_prefix=self.api_key.prefix,
            )
        except FeedError as exc:
            return feed_error(exc)
        return page_response(page)


class ConsumerOutSerializer(serializers.Serializer):
    name = serializers.CharField()
    cursor = serializers.CharField(help_text="Where it stands: what it acknowledged last.")
    unread = serializers.IntegerField(help_text="Events in the feed after its position.")


class ConsumerListView(_FeedBase):
    @extend_schema(
        operation_id="poller_consumers_list",
        tags=["pollers"],
        summary="The feed's named consumers and how far behind each is",
        description="By name; at most `WEBHOOKS_POLL_CONSUMERS_PER_ENDPOINT` (50 by default), "
        "the most an endpoint may have.",
        parameters=[TENANT_PARAM],
        responses=responses({200: ConsumerOutSerializer(many=True)}, 404),
    )
    def get(self, request: Request, tenant: str, endpoint: str) -> Response:
        target = self.poll_endpoint()
        return Response(
            [
                {"name": name, "cursor": cursor_text(position), "unread": unread}
                for name, position, unread in consumers_lag(endpoint=target)
            ]
        )


class ConsumerView(_FeedBase):
    read_only_refused = (
        "reading as a named consumer moves (or creates) it; read the feed with a cursor instead."
    )

    @extend_schema(
        operation_id="poller_consumer_read",
        tags=["pollers"],
        summary="Read as a named consumer",
        description="The server keeps where each consumer is. Hand back the `next_cursor` of a "
        "page you processed as `iterator` to move on; until then the same events are served "
        "again, so a consumer that crashes mid-page loses nothing.",
        parameters=[TENANT_PARAM, ConsumerQuerySerializer],
        responses=responses({200: FeedOutSerializer}, 400, 404, 410),
    )
    def get(self, request: Request, tenant: str, endpoint: str, consumer: str) -> Response:
        target = self.poll_endpoint()
        query = self.parse_query(ConsumerQuerySerializer)
        try:
            page = consumer_read(
                endpoint=target,
                name=consumer,
                iterator=query.get("iterator") or None,
                limit=query["limit"],
                wait=query["wait"],
                api_key_prefix=self.api_key.prefix,
            )
        except FeedError as exc:
            return feed_error(exc)
        return page_response(page)

    @extend_schema(
        operation_id="poller_consumer_delete",
        tags=["pollers"],
        summary="Forget a named consumer",
        parameters=[TENANT_PARAM],
        responses=responses({204: None}, 404),
    )
    def delete(self, request: Request, tenant: str, endpoint: str, consumer: str) -> Response:
        target = self.poll_endpoint()
        if not consumer_delete(endpoint=target, name=consumer):
            raise exceptions.NotFound(f"No consumer {consumer!r} of this feed.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConsumerSeekView(_FeedBase):
    @extend_schema(
        operation_id="poller_consumer_seek",
        tags=["pollers"],
        summary="Move a consumer to a time",
        parameters=[TENANT_PARAM],
        request=SeekInSerializer,
        responses=responses({200: serializers.DictField()}, 400, 404),
    )
    def post(self, request: Request, tenant: str, endpoint: str, consumer: str) -> Response:
        target = self.poll_endpoint()
        data = self.parse(SeekInSerializer, request.data)
        try:
            position = consumer_seek(endpoint=target, name=consumer, after=data["after"])
        except FeedError as exc:
            return feed_error(exc)
        return Response({"iterator": cursor_text(position)})
