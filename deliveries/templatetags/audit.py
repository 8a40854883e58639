"""How the support console shows an audit entry: details as labelled values, targets as links."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime

from .when import when

register = template.Library()

# A time as services store it in JSON (``datetime.isoformat()``): shown as a time, not as text.
_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")

# Targets that have a page in the support console, by the entry's target type.
_TARGET_PAGES = {
    "delivery": "support-delivery-detail",
    "job": "support-job",
}


@register.filter
def audit_details(details: Any) -> list[tuple[str, str]]:
    """``{"reason": "x", "ids": [1, 2]}`` → ``[("reason", "x"), ("ids", "1, 2")]``: plain
    values as text, lists joined, times as the dashboard shows every time, a bulk job's
    ``filters`` as rows of their own, anything else nested as compact JSON (never a Python
    repr)."""
    if not isinstance(details, dict):
        return [("details", _text(details))] if details not in (None, "", {}) else []
    rows = []
    for key, value in details.items():
        if key == "filters" and isinstance(value, dict):
            rows += [(_label(k), _text(v)) for k, v in value.items()]
        else:
            rows.append((_label(key), _text(value)))
    return rows


def _label(key: Any) -> str:
    return str(key).replace("_", " ")


def _text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, str) and _ISO_MOMENT.match(value):
        moment = parse_datetime(value)
        if moment is not None and moment.tzinfo is not None:
            return when(moment)
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


# Targets shown on their tenant's support page, at this anchor.
_TENANT_PAGE_ANCHORS = {"endpoint": "endpoint-", "tenant": "", "portallink": "portal-links"}


@register.filter
def audit_target_url(entry: Any) -> str:
    """The support page of the entry's target, or "" when it has none."""
    anchor = _TENANT_PAGE_ANCHORS.get(entry.target_type)
    if anchor is not None and entry.tenant is not None:
        url = reverse("support-tenant", args=[entry.tenant.slug])
        if anchor == "endpoint-":
            return f"{url}#endpoint-{entry.target_id}"
        return f"{url}#{anchor}" if anchor else url
    name = _TARGET_PAGES.get(entry.target_type)
    if name is None or not entry.target_id.isdigit():
        return ""
    try:
        return reverse(name, args=[int(entry.target_id)])
    except NoReverseMatch:
        return ""
