"""Structured logs: JSON lines with the ids as keys, text with key=value, credentials redacted."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from platform_core.logging import REDACTED, JsonFormatter, TextFormatter

ROOT = Path(__file__).resolve().parents[2]

DELIVERY_EXTRA = {
    "tenant_id": 7,
    "event_id": "msg_01J0000000000000000000000",
    "delivery_id": 42,
    "endpoint_id": "ep_01J0000000000000000000000",
    "attempt_number": 3,
    "status_code": 503,
    "error": "",
}


def record(message: str = "attempt %s", *args: object, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("deliveries.engine.record")
    return logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, message, args or ("retry",), None, extra=extra
    )


def test_json_carries_every_extra_as_a_key():
    line = JsonFormatter().format(record(**DELIVERY_EXTRA))

    data = json.loads(line)
    assert "\n" not in line
    assert data["message"] == "attempt retry"
    assert data["level"] == "INFO"
    assert data["logger"] == "deliveries.engine.record"
    assert data["ts"].endswith("Z")
    for key, expected in DELIVERY_EXTRA.items():
        assert data[key] == expected


def test_text_appends_extras_as_key_value():
    line = TextFormatter().format(record(**DELIVERY_EXTRA))

    assert " INFO deliveries.engine.record attempt retry " in line
    assert "tenant_id=7 event_id=msg_01J0000000000000000000000 delivery_id=42" in line
    assert "attempt_number=3 status_code=503" in line
    assert 'error=""' in line


def test_credentials_are_redacted_in_both_formats():
    extra = {"secret": "whsec_abc", "api_key": "whk_123_456", "authorization": "Bearer x"}

    data = json.loads(JsonFormatter().format(record(**extra)))
    text = TextFormatter().format(record(**extra))

    assert data["secret"] == data["api_key"] == data["authorization"] == REDACTED
    for value in extra.values():
        assert value not in text
        assert value not in json.dumps(data)


def test_exceptions_stay_on_one_json_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        rec = record(delivery_id=1)
        rec.exc_info = sys.exc_info()

    line = JsonFormatter().format(rec)

    assert "\n" not in line
    assert "RuntimeError: boom" in json.loads(line)["exc_info"]


@pytest.mark.parametrize(("log_format", "is_json"), [("json", True), ("text", False)])
def test_log_format_selects_the_formatter(log_format, is_json, tmp_path):
    env = {**os.environ, "LOG_FORMAT": log_format, "WEBHOOKS_VAR_DIR": str(tmp_path)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('deliveries.engine.record').info("
        "'attempt %s', 'succeeded', extra={'delivery_id': 42, 'tenant_id': 7})"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "webhooks_platform.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    (line,) = result.stderr.strip().splitlines()
    if is_json:
        data = json.loads(line)
        assert (data["message"], data["delivery_id"], data["tenant_id"]) == (
            "attempt succeeded",
            42,
            7,
        )
    else:
        assert line.endswith("attempt succeeded delivery_id=42 tenant_id=7")
