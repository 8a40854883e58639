"""Property-based run of the whole API from its own OpenAPI document (schemathesis).

Bounded in examples per operation; must find no 500 and no response that breaks the schema.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import response_schema_conformance

from webhooks_platform.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)

# Text nobody should send, in bodies: a lone UTF-16 surrogate (JSON escapes it as "\ud800") and
# a NUL. Each operation gets bodies as generated and bodies with both in their first string.
# (NULs elsewhere come from schemathesis itself: allow_x00 is on by default.)
HOSTILE = "\ud800\x00"


def _with_hostile_text(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str):
        return value + HOSTILE, True
    if isinstance(value, dict):
        for key, item in value.items():
            changed, done = _with_hostile_text(item)
            if done:
                return {**value, key: changed}, True
    if isinstance(value, list):
        for i, item in enumerate(value):
            changed, done = _with_hostile_text(item)
            if done:
                return [*value[:i], changed, *value[i + 1 :]], True
    return value, False


@schema.hook
def before_generate_body(context, strategy):  # type: ignore[no-untyped-def]
    return st.one_of(strategy, strategy.map(lambda body: _with_hostile_text(body)[0]))


def not_a_server_error(ctx, response, case):  # type: ignore[no-untyped-def]
    if response.status_code >= 500:
        raise AssertionError(f"{case.method} {case.formatted_path} answered {response.status_code}")


@pytest.fixture
def platform_headers(platform_key, tenant, invoice_paid):  # type: ignore[no-untyped-def]
    """Calls go straight into the WSGI app, so keep Django from closing the test's connection
    at the end of each request (as its own test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {"Authorization": f"Bearer {platform_key}"}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_errors_and_responses_match_the_schema(case, platform_headers):
    case.call_and_validate(
        headers=platform_headers, checks=[not_a_server_error, response_schema_conformance]
    )
