"""What an endpoint change changed, as the audit log records it: readable, never a secret."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..models import Endpoint
from ..retry_schedule import schedule_text


def endpoint_snapshot(endpoint: Endpoint) -> dict[str, Any]:
    """What an audit entry compares before and after a change: never a header's value."""
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": sorted(t.name for t in endpoint.event_types.all()),
        "channels": sorted(endpoint.channels or []),
        "rate_limit": endpoint.rate_limit,
        "signature_style": endpoint.signature_style,
        "filter": endpoint.payload_filter,
        # As written in the dashboard ("5s, 5m, 2h"); a schedule is compared whole, not as a set.
        "retry_schedule": schedule_text(endpoint.retry_schedule) or "inherited",
        "ordered": endpoint.ordered,
        "headers": sorted(endpoint.headers or {}),
        "enabled": endpoint.enabled,
    }


def endpoint_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Readable differences of two snapshots: ``"old → new"`` for values, what was added and
    removed for lists (``headers``: names only)."""
    changes: dict[str, Any] = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if isinstance(old, list) and isinstance(new, list):
            diff = {
                "added": [x for x in new if x not in old],
                "removed": [x for x in old if x not in new],
            }
            changes[key] = {k: v for k, v in diff.items() if v}
        else:
            changes[key] = f"{_shown(old)} → {_shown(new)}"
    return changes


def endpoint_change_actions(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """The audit entries an endpoint change makes: ``endpoint.update`` with what changed, and
    ``endpoint.enable`` or ``endpoint.disable`` when that changed."""
    changes = endpoint_changes(before, after)
    enabled = changes.pop("enabled", None)
    actions: list[tuple[str, dict[str, Any]]] = [("endpoint.update", changes)] if changes else []
    if enabled is not None:
        actions.append(("endpoint.enable" if after["enabled"] else "endpoint.disable", {}))
    return actions


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)
