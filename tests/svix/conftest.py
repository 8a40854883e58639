"""The official ``svix`` SDK as the client, against a live server and a real worker."""

from __future__ import annotations

import pytest
from svix.api import Svix, SvixOptions

from endpoints.services import api_key_create
from tests.e2e.conftest import clean_broker, e2e_settings, worker  # noqa: F401  (shared fixtures)


@pytest.fixture
def platform_token(transactional_db) -> str:  # type: ignore[no-untyped-def]
    _, key = api_key_create(name="svix sdk")
    return key


@pytest.fixture
def server_url(live_server) -> str:  # type: ignore[no-untyped-def]
    return live_server.url


@pytest.fixture
def svix(server_url: str, platform_token: str) -> Svix:
    # No retries: a 5xx must fail the test at once, not be retried into a pass.
    return Svix(platform_token, SvixOptions(server_url=server_url, retry_schedule=[]))
