"""Why a delivery waits, in words: ``{{ delivery|waiting }}`` for a pending delivery; and what
an attempt was answered: ``{{ attempt.response_status|answer:attempt.endpoint }}``."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

from deliveries.ordering import blocking_delivery
from deliveries.schedules import retry_schedule
from platform_core.conf import webhooks_settings

register = template.Library()


def _at(moment: Any) -> str:
    local = timezone.localtime(moment)
    pattern = "H:i:s T" if local.date() == timezone.localdate() else "M j, H:i T"
    return date_format(local, pattern)


@register.filter
def waiting(delivery: Any) -> str:
    """What a pending delivery waits for: the endpoint, its circuit, its rate limit or its
    retry schedule. Empty for any other status."""
    if delivery.status == "held":
        ahead = blocking_delivery(delivery)
        if ahead is None:
            return "next in line: goes out in a moment"
        return f"waiting behind delivery {ahead}: the endpoint sends in publish order"
    if delivery.status != "pending":
        return ""
    endpoint = delivery.endpoint
    now = timezone.now()
    due = delivery.next_attempt_at
    if not endpoint.enabled:
        return "endpoint disabled: it goes out when the endpoint is enabled"
    if delivery.manual_requested:
        return "manual try: going out now"
    if endpoint.circuit_state == "open":
        if endpoint.circuit_probe_in_flight:
            return "circuit open: a probe is out now; this delivery follows its success"
        probe = endpoint.circuit_probe_due_at
        when = f"at {_at(probe)}" if probe else "now"
        return f"circuit open: the next probe goes {when}; this delivery follows its success"
    if due is None or due <= now:
        if endpoint.rate_limit:
            return f"due now, within the endpoint's rate limit ({endpoint.rate_limit}/s)"
        return "due now: going out"
    if delivery.attempt_count == 0:
        # Only a scheduled event (deliver_at) makes a first try wait.
        return f"scheduled: first try at {_at(due)}"
    ws = webhooks_settings()
    schedule = retry_schedule(endpoint.retry_schedule, delivery.event_type_id, ws)
    whose = ""
    if endpoint.retry_schedule is not None:
        whose = " (the endpoint's retry schedule)"
    elif schedule is not ws.retry_schedule:
        whose = " (the event type's retry schedule)"
    return f"retry {delivery.scheduled_attempts + 1} of {len(schedule) + 1} at {_at(due)}{whose}"


@register.filter
def answer(status: int | None, endpoint: Any = None) -> str:
    """An attempt's answer as the log shows it. A webhook's is its HTTP status ("HTTP 200") or
    "no response"; a destination (a broker, a stream, AWS) answers no HTTP status — its sender
    records an accepted message as 202 and a refused one as 0 — so it reads "accepted" or
    "not accepted" (the error and the broker's code sit beside it)."""
    kind = getattr(endpoint, "kind", "push")
    if kind not in ("push", "poll"):
        return "accepted" if status == 202 else "not accepted"
    return f"HTTP {status}" if status else "no response"
