"""Production switches from the environment and the Content-Security-Policy (hardening issue,
item 17)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dashboard.conftest import make_user

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def test_dashboard_pages_carry_a_content_security_policy(client, tenant):
    client.force_login(make_user("csp", tenants=(tenant,)))

    policy = client.get("/endpoints/")["Content-Security-Policy"]

    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


def test_the_api_docs_may_run_swagger_ui(client):
    policy = client.get("/api/docs/")["Content-Security-Policy"]

    assert "'unsafe-inline'" in policy.split("script-src")[1].split(";")[0]


def _deploy_check(**env: str) -> str:
    run_env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "k" * 64,
        "ALLOWED_HOSTS": "hooks.example.com",
        "WEBHOOKS_ALLOWED_SUBNETS": "",
        **env,
    }
    run_env.pop("DATABASE_URL", None)
    done = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout + done.stderr


def test_tls_switches_come_from_the_environment():
    before = _deploy_check()
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"security.{warning}" in before

    after = _deploy_check(
        SECURE_SSL_REDIRECT="true",
        SECURE_HSTS_SECONDS="31536000",
        SESSION_COOKIE_SECURE="true",
        CSRF_COOKIE_SECURE="true",
    )
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"security.{warning}" not in after
