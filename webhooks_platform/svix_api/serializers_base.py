"""What every Svix body module shares: the null-tolerant input base, the time format, the
fields of an endpoint, and the ``Svix…`` component names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from endpoints.models import Endpoint

S = serializers
# ISO 8601 the way every DRF DateTimeField here renders it (one field, not one per value).
_time = serializers.DateTimeField().to_representation


class SvixIn(S.Serializer):
    """A Svix request body. Svix takes ``null`` in every optional field (its SDKs send it for
    what is unset): null means "not given", unless the field declares ``allow_null``, where
    null keeps the meaning Svix documents (a PATCH clears ``uid``, ``eventTypes``, ...)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            fields = self.fields
            data = {
                key: value
                for key, value in data.items()
                if value is not None
                or key not in fields
                or fields[key].required
                or fields[key].allow_null
            }
        return super().to_internal_value(data)


class StringMap(S.DictField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=S.CharField(allow_blank=True, trim_whitespace=False), **kwargs)


def endpoint_common(endpoint: Endpoint) -> dict[str, Any]:
    types = [t.name for t in endpoint.event_types.all()] or None
    return {
        "id": endpoint.pk,
        "uid": endpoint.uid,
        "url": endpoint.url,
        "description": endpoint.description,
        "disabled": not endpoint.enabled,
        "eventTypes": types,
        "filterTypes": types,
        "channels": list(endpoint.channels) or None,
        "throttleRate": endpoint.rate_limit,
        "rateLimit": endpoint.rate_limit,
        "version": 1,
        "createdAt": _time(endpoint.created_at),
        "updatedAt": _time(endpoint.updated_at),
    }


def name_components(namespace: Mapping[str, Any], module: str) -> None:
    """OpenAPI components of this API are named ``Svix…``, apart from the native API's: every
    serializer class a module defines (``namespace`` is its globals)."""
    for name, value in list(namespace.items()):
        ours = isinstance(value, type) and issubclass(value, S.Serializer)
        if ours and value.__module__ == module:
            extend_schema_serializer(component_name=f"Svix{name}")(value)
