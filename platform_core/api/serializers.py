from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF's CharField would turn ``123`` or ``true`` into text."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


_AWARE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})$"
)


class AwareDateTimeField(serializers.DateTimeField):
    """A calendar date, a time and an offset (``2026-12-24T18:00:00Z``), nothing less: DRF's
    field would take a time without an offset, a bare date or an ISO week date as UTC, which
    for a time to act at is a guess about the caller's clock."""

    default_error_messages = {
        "not_aware": "Give a date, a time and an offset, as 2026-12-24T18:00:00Z or "
        "2026-12-24T19:00:00+01:00 (no bare date, week date or time without an offset).",
    }

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                self.fail("not_aware")
        elif not isinstance(value, str) or not _AWARE_TIME_RE.match(value.strip()):
            self.fail("not_aware")
        return super().to_internal_value(value)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: validation_error, ...")
    message = serializers.CharField(help_text="What was wrong, for a person.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="For validation errors: the messages of each field that was wrong.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
