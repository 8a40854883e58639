"""The search box's second step: when no id matches exactly, what starts with the query.

Ids are long (``msg_`` + 27 characters); people paste the start of one from a log line or a
receiver's output. An event id or idempotency key, an endpoint id, uid or URL that starts with
the query, are listed (a few of each), so a miss is a page that says what was looked at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from endpoints.models import Endpoint, Tenant

from .models import Event

#: Matches listed per kind at most.
SEARCH_LIMIT = 20
#: Shorter queries match too much to be useful (and cost a wider scan).
SEARCH_MIN_PREFIX = 3
#: Prefixes whose remainder is a ULID (upper-case Crockford base32): typed lower case, they
#: are still found.
ID_PREFIXES = ("msg_", "ep_")


@dataclass
class SearchResults:
    query: str
    events: list[Event] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.events or self.endpoints)


def _id_form(query: str) -> str:
    for prefix in ID_PREFIXES:
        if query.lower().startswith(prefix):
            return prefix + query[len(prefix) :].upper()
    return query


def search_prefix(*, tenant: Tenant, query: str, limit: int = SEARCH_LIMIT) -> SearchResults:
    """Events and endpoints of ``tenant`` whose id (or idempotency key, uid, URL) starts with
    ``query``; nothing for a query shorter than ``SEARCH_MIN_PREFIX`` or with a NUL."""
    query = query.strip()
    results = SearchResults(query=query)
    if len(query) < SEARCH_MIN_PREFIX or "\x00" in query or len(query) > 255:
        return results
    as_id = _id_form(query)
    events: Any = Event.objects.filter(tenant=tenant).filter(
        Q(pk__startswith=as_id) | Q(idempotency_key__startswith=query)
    )
    results.events = list(events.select_related("event_type").order_by("-id")[:limit])
    endpoints = Endpoint.objects.filter(tenant=tenant, deleted_at__isnull=True).filter(
        Q(pk__startswith=as_id) | Q(uid__startswith=query) | Q(url__startswith=query)
    )
    results.endpoints = list(endpoints.order_by("url", "id")[:limit])
    return results
