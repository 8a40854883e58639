"""Claim a batch of deliveries, send them concurrently, record each attempt as it finishes."""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from deliveries import policy, signing, transport
from deliveries.models import Attempt, Delivery
from endpoints.models import Endpoint
from endpoints.services import endpoint_disable, endpoint_secrets_live
from webhooks_platform.conf import WebhooksSettings, webhooks_settings

logger = logging.getLogger(__name__)

ERROR_MAX = 500


@dataclass
class SendSummary:
    claimed: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)


def deliveries_claim(*, delivery_ids: Sequence[int], now: datetime | None = None) -> list[Delivery]:
    """Take the due, pending deliveries among ``delivery_ids`` for this worker.

    One conditional UPDATE: a delivery another worker already holds, or that is not due, is not
    taken, so two workers with the same message cannot both send it.
    """
    now = now or timezone.now()
    ws = webhooks_settings()
    token = uuid.uuid4()
    taken = Delivery.objects.filter(
        id__in=list(delivery_ids),
        status=Delivery.Status.PENDING,
        next_attempt_at__lte=now,
        endpoint__enabled=True,
        endpoint__deleted_at__isnull=True,
    ).update(
        status=Delivery.Status.SENDING,
        claim_token=token,
        lease_expires_at=now + timedelta(seconds=ws.lease_seconds),
        dispatched_until=None,
    )
    if not taken:
        return []
    return list(
        Delivery.objects.filter(claim_token=token, status=Delivery.Status.SENDING).select_related(
            "event", "endpoint", "event_type"
        )
    )


def _request_headers(
    *, delivery: Delivery, secrets: list[str], timestamp: int, body: bytes
) -> dict[str, str]:
    headers = dict(delivery.endpoint.headers or {})
    headers["content-type"] = "application/json"
    headers.update(
        signing.headers(secrets=secrets, msg_id=delivery.event_id, timestamp=timestamp, body=body)
    )
    return headers


def _stored_body(raw: bytes) -> tuple[str, str]:
    if b"\x00" not in raw:
        try:
            return raw.decode("utf-8"), Attempt.BodyEncoding.UTF8
        except UnicodeDecodeError:
            pass
    return base64.b64encode(raw).decode("ascii"), Attempt.BodyEncoding.BASE64


def transport_options(ws: WebhooksSettings) -> transport.TransportOptions:
    return transport.TransportOptions(
        timeout=ws.attempt_timeout,
        allowed_subnets=ws.allowed_subnets,
        body_limit=ws.response_body_limit,
        require_https=ws.require_https,
    )


def deliveries_send(*, delivery_ids: Sequence[int]) -> SendSummary:
    """Claim, sign and send a batch; write attempts and outcomes as results arrive."""
    summary = SendSummary()
    claimed = deliveries_claim(delivery_ids=delivery_ids)
    summary.claimed = len(claimed)
    if not claimed:
        return summary
    ws = webhooks_settings()
    secrets = endpoint_secrets_live(endpoint_ids={d.endpoint_id for d in claimed})
    timestamp = int(time.time())
    by_id: dict[int, Delivery] = {}
    sent_headers: dict[int, dict[str, str]] = {}
    requests: list[transport.OutboundRequest] = []
    unsendable: list[transport.AttemptResult] = []
    for delivery in claimed:
        by_id[delivery.pk] = delivery
        live = secrets.get(delivery.endpoint_id)
        if not live:
            unsendable.append(
                transport.AttemptResult(
                    key=delivery.pk,
                    started_at=timezone.now(),
                    duration_ms=0,
                    error="no live signing secret",
                )
            )
            continue
        body = delivery.event.body.encode("utf-8")
        headers = _request_headers(delivery=delivery, secrets=live, timestamp=timestamp, body=body)
        sent_headers[delivery.pk] = headers
        requests.append(
            transport.OutboundRequest(
                key=delivery.pk,
                url=delivery.endpoint.url,
                headers=headers,
                body=body,
                group=delivery.endpoint_id,
            )
        )
    if unsendable:
        _record(by_id, sent_headers, unsendable, ws, summary)
    for results in transport.send_batches(requests, transport_options(ws)):
        _record(by_id, sent_headers, results, ws, summary)
    return summary


def _record(
    by_id: dict[int, Delivery],
    sent_headers: dict[int, dict[str, str]],
    results: list[transport.AttemptResult],
    ws: WebhooksSettings,
    summary: SendSummary,
) -> None:
    now = timezone.now()
    attempts: list[Attempt] = []
    succeeded_endpoints: set[str] = set()
    failed_endpoints: set[str] = set()
    gone_endpoints: set[str] = set()
    with transaction.atomic():
        for result in results:
            delivery = by_id[result.key]
            manual = delivery.manual_requested
            number = delivery.attempt_count + 1
            scheduled = delivery.scheduled_attempts + (0 if manual else 1)
            decision = policy.decide(
                status=result.status,
                tries_so_far=max(scheduled, 1),
                schedule=ws.retry_schedule,
                jitter=ws.retry_jitter,
                retry_after=policy.parse_retry_after(result.retry_after, now=now),
                retry_after_max=ws.retry_after_max,
            )
            body, encoding = _stored_body(result.response_body)
            attempts.append(
                Attempt(
                    delivery_id=delivery.pk,
                    endpoint_id=delivery.endpoint_id,
                    number=number,
                    trigger=Attempt.Trigger.MANUAL if manual else Attempt.Trigger.SCHEDULED,
                    started_at=result.started_at,
                    duration_ms=result.duration_ms,
                    request_url=delivery.endpoint.url,
                    request_headers=sent_headers.get(delivery.pk, {}),
                    response_status=result.status,
                    response_headers=result.response_headers,
                    response_body=body,
                    response_body_encoding=encoding,
                    error=result.error[:ERROR_MAX],
                )
            )
            fields: dict[str, object] = {
                "attempt_count": number,
                "scheduled_attempts": scheduled,
                "manual_requested": False,
                "claim_token": None,
                "lease_expires_at": None,
                "last_attempt_at": result.started_at,
                "last_status_code": result.status,
                "last_error": result.error[:ERROR_MAX],
            }
            if decision.outcome is policy.Outcome.SUCCEEDED:
                fields.update(
                    status=Delivery.Status.SUCCEEDED, finished_at=now, next_attempt_at=None
                )
                succeeded_endpoints.add(delivery.endpoint_id)
                summary.succeeded += 1
            elif decision.outcome is policy.Outcome.RETRY:
                fields.update(
                    status=Delivery.Status.PENDING,
                    next_attempt_at=now + timedelta(seconds=decision.delay or 0),
                )
                failed_endpoints.add(delivery.endpoint_id)
                summary.retrying += 1
            else:
                fields.update(status=Delivery.Status.FAILED, finished_at=now, next_attempt_at=None)
                failed_endpoints.add(delivery.endpoint_id)
                if decision.outcome is policy.Outcome.GONE:
                    gone_endpoints.add(delivery.endpoint_id)
                summary.failed += 1
            summary.outcomes[delivery.pk] = str(decision.outcome)
            kept = Delivery.objects.filter(pk=delivery.pk, claim_token=delivery.claim_token).update(
                **fields
            )
            if not kept:
                # The lease expired and the sweeper took the delivery back; the attempt still
                # happened, so it is recorded, but the newer state is left alone.
                logger.warning(
                    "attempt finished after its lease expired",
                    extra={"delivery_id": delivery.pk, "endpoint_id": delivery.endpoint_id},
                )
            logger.info(
                "attempt %s",
                decision.outcome,
                extra={
                    "tenant_id": delivery.tenant_id,
                    "event_id": delivery.event_id,
                    "delivery_id": delivery.pk,
                    "endpoint_id": delivery.endpoint_id,
                    "attempt_number": number,
                    "status_code": result.status,
                    "error": result.error,
                    "duration_ms": result.duration_ms,
                },
            )
        Attempt.objects.bulk_create(attempts)
        _endpoint_health(
            succeeded=succeeded_endpoints,
            failed=failed_endpoints - succeeded_endpoints,
            gone=gone_endpoints,
            now=now,
            ws=ws,
        )


def _endpoint_health(
    *, succeeded: set[str], failed: set[str], gone: set[str], now: datetime, ws: WebhooksSettings
) -> None:
    if succeeded:
        Endpoint.objects.filter(id__in=succeeded, failing_since__isnull=False).update(
            failing_since=None
        )
    if failed:
        Endpoint.objects.filter(id__in=failed, failing_since__isnull=True).update(failing_since=now)
        cutoff = now - timedelta(seconds=ws.disable_after_failing_seconds)
        days = ws.disable_after_failing_seconds / 86400
        for endpoint in Endpoint.objects.filter(
            id__in=failed - gone, enabled=True, failing_since__lte=cutoff
        ):
            endpoint_disable(
                endpoint=endpoint,
                reason=(
                    f"every attempt failed for {days:g} days "
                    f"(since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC)"
                ),
            )
    for endpoint in Endpoint.objects.filter(id__in=gone, enabled=True):
        endpoint_disable(endpoint=endpoint, reason="the receiver answered 410 Gone")
