"""Log formatters: one JSON object a line (``LOG_FORMAT=json``) or readable text.

Both carry the record's ``extra`` fields (``tenant_id``, ``event_id``, ``delivery_id``,
``endpoint_id``, ``attempt_number``, ...): as keys in JSON, as ``key=value`` after the message in
text. A field whose name looks like a credential is replaced by ``[redacted]``, so a careless
``extra={"secret": ...}`` cannot leak a signing secret or an API key into the logs.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

# Every attribute a plain LogRecord has; anything else on a record came from ``extra``.
_RESERVED = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}
_SENSITIVE = re.compile(
    r"secret|password|passwd|token|api_?key|authorization|cookie|key_hash|signature|credential",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def record_extras(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra`` fields of ``record``, credentials redacted, in the order they were given."""
    out: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _RESERVED or key.startswith("_"):
            continue
        out[key] = REDACTED if _SENSITIVE.search(key) else value
    return out


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", ...extras, "exc_info"?}``, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record_extras(record).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text == "" or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """``2025-01-01T10:00:00.000Z INFO logger message key=value ...`` for people reading."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name} {record.getMessage()}"
        extras = record_extras(record)
        if extras:
            line += " " + " ".join(f"{k}={_text_value(v)}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line
