"""Writes to the event-type catalogue."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jsonschema
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..models import EVENT_TYPE_NAME_RE, EventType
from ..selectors import event_type_retry_schedules_changed
from .rules import (
    _UNSET,
    AlreadyExists,
    json_storable,
    retry_schedule_validate,
)

# --- Event types -----------------------------------------------------------------------------


def _validate_schema(schema: Any) -> None:
    if schema is None:
        return
    json_storable(schema, "schema")
    if not isinstance(schema, dict):
        raise ValidationError({"schema": "A JSON Schema is a JSON object."})
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValidationError({"schema": f"Not a valid JSON Schema: {exc.message}"}) from exc


def _validate_example(schema: Any, example: Any) -> None:
    if example is not None:
        json_storable(example, "example")
    if schema is None or example is None:
        return
    try:
        jsonschema.validate(example, schema)
    except jsonschema.ValidationError as exc:
        raise ValidationError(
            {"example": f"The example does not match the schema: {exc.message}"}
        ) from exc


def _schemas_validate(schemas: Any) -> Any:
    """Svix's ``schemas``: an object of version to JSON Schema, stored as given."""
    if schemas is None:
        return None
    if not isinstance(schemas, Mapping) or not all(
        isinstance(v, Mapping) for v in schemas.values()
    ):
        raise ValidationError({"schemas": "Give an object of version to JSON Schema object."})
    return json_storable(dict(schemas), "schemas")


def event_type_create(
    *,
    name: str,
    description: str = "",
    schema: Any = None,
    example: Any = None,
    schemas: Any = None,
    deprecated: bool = False,
    feature_flag: str = "",
    archived: bool = False,
    retry_schedule: Any = None,
) -> EventType:
    name = (name or "").strip()
    if not re.match(EVENT_TYPE_NAME_RE, name) or len(name) > 128:
        raise ValidationError(
            {
                "name": "Use a dotted name of letters, digits, '_' and '-', such as invoice.paid "
                "(at most 128 characters)."
            }
        )
    _validate_schema(schema)
    _validate_example(schema, example)
    clean_schedule = retry_schedule_validate(retry_schedule)
    try:
        with transaction.atomic():
            created = EventType.objects.create(
                name=name,
                description=description or "",
                schema=schema,
                example=example,
                schemas=_schemas_validate(schemas),
                deprecated=bool(deprecated),
                feature_flag=(feature_flag or "")[:256],
                archived=bool(archived),
                retry_schedule=clean_schedule,
            )
    except IntegrityError as exc:
        raise AlreadyExists({"name": f"Event type {name!r} already exists."}) from exc
    if clean_schedule is not None:
        event_type_retry_schedules_changed()
    return created


def event_type_update(
    *,
    event_type: EventType,
    description: str | None = None,
    schema: Any = _UNSET,
    example: Any = _UNSET,
    archived: bool | None = None,
    schemas: Any = _UNSET,
    deprecated: bool | None = None,
    feature_flag: str | None = None,
    retry_schedule: Any = _UNSET,
) -> EventType:
    """Change what is given; ``retry_schedule=None`` goes back to the platform's schedule."""
    if retry_schedule is not _UNSET:
        event_type.retry_schedule = retry_schedule_validate(retry_schedule)
    if schemas is not _UNSET:
        event_type.schemas = _schemas_validate(schemas)
    if deprecated is not None:
        event_type.deprecated = bool(deprecated)
    if feature_flag is not None:
        event_type.feature_flag = feature_flag[:256]
    new_schema = event_type.schema if schema is _UNSET else schema
    new_example = event_type.example if example is _UNSET else example
    _validate_schema(new_schema)
    _validate_example(new_schema, new_example)
    if description is not None:
        event_type.description = description
    event_type.schema = new_schema
    event_type.example = new_example
    if archived is not None:
        event_type.archived = archived
    event_type.save()
    if retry_schedule is not _UNSET:
        event_type_retry_schedules_changed()
    return event_type


def event_type_archive(*, event_type: EventType) -> EventType:
    """Archiving stops new events of the type; history and subscriptions stay."""
    return event_type_update(event_type=event_type, archived=True)


def event_type_delete(*, event_type: EventType) -> None:
    """Delete a type for good; only one no event was ever published with (archive the others)."""
    from django.db.models import ProtectedError

    try:
        with transaction.atomic():
            event_type.delete()
    except ProtectedError as exc:
        raise AlreadyExists(
            {"name": f"Events of {event_type.name!r} exist; archive the type instead."}
        ) from exc
