"""Writes to tenants, event types and endpoints. Every rule about them lives here:
``rules`` (what every write checks), ``tenants``, ``event_types``, ``endpoints``, ``secrets``
(endpoints' signing secrets) and ``keys`` (API keys and the audit log). Callers import from
this package.

Changes whose effects reach deliveries (update, disable, enable, circuit reset, delete) are
``deliveries.services.endpoint_lifecycle``'s: this package writes only the endpoint's row."""

from __future__ import annotations

from .changes import endpoint_change_actions, endpoint_changes, endpoint_snapshot
from .destination_rules import destination_validate, kind_validate
from .endpoints import (
    EndpointUpdated,
    endpoint_circuit_close,
    endpoint_create,
    endpoint_fields_update,
    endpoint_mark_deleted,
    endpoint_mark_disabled,
    endpoint_mark_enabled,
)
from .event_types import (
    event_type_archive,
    event_type_create,
    event_type_delete,
    event_type_update,
)
from .header_seal import SEALED_PREFIX, headers_open, headers_seal, is_sealed
from .keys import (
    API_KEY_PREFIX,
    API_KEY_TOUCH_INTERVAL,
    api_key_authenticate,
    api_key_create,
    api_key_hash,
    api_key_revoke,
    audit_record,
)
from .rules import (
    MAX_CUSTOM_HEADERS,
    MAX_CUSTOM_HEADERS_BYTES,
    MAX_METADATA_BYTES,
    MAX_RATE_LIMIT,
    MAX_ROTATION_GRACE_SECONDS,
    REDACTED,
    RESERVED_HEADERS,
    SENSITIVE_HEADERS,
    UNSET,
    AlreadyExists,
    channels_validate_field,
    endpoint_headers_validate,
    endpoint_rate_limit_validate,
    endpoint_url_validate,
    headers_redacted,
    is_platform_header,
    is_sensitive_header,
    json_storable,
    metadata_validate,
    payload_filter_validate,
    retry_schedule_validate,
    signature_style_validate,
    uid_validate,
)
from .secrets import (
    endpoint_secret_current,
    endpoint_secret_old_until,
    endpoint_secret_rotate,
    endpoint_secrets_live,
    secret_grace_validate,
    secrets_reencrypt,
)
from .tenants import (
    tenant_create,
    tenant_delete_rows,
    tenant_slug_for,
    tenant_update,
)

__all__ = [
    "API_KEY_PREFIX",
    "API_KEY_TOUCH_INTERVAL",
    "AlreadyExists",
    "MAX_CUSTOM_HEADERS",
    "MAX_CUSTOM_HEADERS_BYTES",
    "MAX_METADATA_BYTES",
    "MAX_RATE_LIMIT",
    "MAX_ROTATION_GRACE_SECONDS",
    "REDACTED",
    "SEALED_PREFIX",
    "RESERVED_HEADERS",
    "SENSITIVE_HEADERS",
    "api_key_authenticate",
    "api_key_create",
    "api_key_hash",
    "api_key_revoke",
    "audit_record",
    "channels_validate_field",
    "endpoint_change_actions",
    "endpoint_changes",
    "EndpointUpdated",
    "UNSET",
    "endpoint_circuit_close",
    "endpoint_create",
    "endpoint_fields_update",
    "endpoint_mark_deleted",
    "endpoint_mark_disabled",
    "endpoint_mark_enabled",
    "endpoint_headers_validate",
    "endpoint_rate_limit_validate",
    "signature_style_validate",
    "payload_filter_validate",
    "retry_schedule_validate",
    "endpoint_secret_current",
    "endpoint_secret_old_until",
    "endpoint_secret_rotate",
    "secret_grace_validate",
    "endpoint_secrets_live",
    "endpoint_snapshot",
    "endpoint_url_validate",
    "destination_validate",
    "kind_validate",
    "event_type_archive",
    "event_type_create",
    "event_type_delete",
    "event_type_update",
    "headers_open",
    "headers_redacted",
    "headers_seal",
    "is_platform_header",
    "is_sealed",
    "is_sensitive_header",
    "json_storable",
    "metadata_validate",
    "secrets_reencrypt",
    "tenant_create",
    "tenant_delete_rows",
    "tenant_slug_for",
    "tenant_update",
    "uid_validate",
]
