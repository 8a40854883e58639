"""The endpoints app's models, one module a concern: ``tenants`` (tenants, members),
``endpoints`` (event types, endpoints, secrets, transformations) and ``access`` (API keys, the
audit log, idempotent responses, portal links). Import them from here."""

from __future__ import annotations

from .access import ApiKey, AuditEntry, IdempotentResponse, PortalLink
from .endpoints import EVENT_TYPE_NAME_RE, Endpoint, EndpointSecret, EventType, Transformation
from .tenants import OPERATIONS_TENANT_SLUG, Membership, Tenant

__all__ = [
    "EVENT_TYPE_NAME_RE",
    "OPERATIONS_TENANT_SLUG",
    "ApiKey",
    "AuditEntry",
    "Endpoint",
    "EndpointSecret",
    "EventType",
    "IdempotentResponse",
    "Membership",
    "PortalLink",
    "Tenant",
    "Transformation",
]
