from __future__ import annotations

import re
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


_SURROGATE = re.compile(r"[\ud800-\udfff]")


class JSONParser(parsers.JSONParser):
    """DRF's parser, plus a 400 for JSON nested deeper than Python's recursion limit
    (``json`` raises RecursionError there, which DRF does not catch) and for a lone UTF-16
    surrogate (``"\\ud800"``): valid JSON syntax, but no Unicode text, so it could be neither
    encoded as UTF-8 to send nor stored in PostgreSQL."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
        try:
            lone = _has_lone_surrogate(data)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
        if lone:
            raise ParseError(
                "JSON parse error - a string holds a lone UTF-16 surrogate (such as \\ud800), "
                "which is not text."
            )
        return data
