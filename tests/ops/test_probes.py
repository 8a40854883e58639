"""/healthz and /readyz: up, ready, and which dependency is down (all on 127.0.0.1)."""

from __future__ import annotations

import socket
import time

import pytest
from django.db.utils import ConnectionHandler
from django.test import Client

from webhooks_platform import probes
from webhooks_platform.celery import app as celery_app

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_answers_without_dependencies():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_database_and_broker_answer():
    response = Client().get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_not_ready_when_the_database_is_down(monkeypatch):
    # A real connection handler whose database is a PostgreSQL on a closed loopback port.
    down = ConnectionHandler(
        {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "webhooks",
                "HOST": "127.0.0.1",
                "PORT": str(closed_port()),
                "USER": "nobody",
                "OPTIONS": {"connect_timeout": 2},
            }
        }
    )
    monkeypatch.setattr(probes, "connections", down)
    started = time.monotonic()

    response = Client().get("/readyz")

    assert time.monotonic() - started < 5
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["database"]
    assert body["checks"]["database"] == "unavailable"  # details go to the log, not the probe
    assert "nobody" not in response.content.decode()
    assert body["checks"]["broker"] == "ok"


def test_not_ready_when_the_broker_is_down(monkeypatch, settings):
    settings.WEBHOOKS_READY_TIMEOUT = 1
    monkeypatch.setattr(celery_app.conf, "broker_write_url", f"redis://127.0.0.1:{closed_port()}/0")
    started = time.monotonic()

    response = Client().get("/readyz")

    assert time.monotonic() - started < 5
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["broker"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] == "unavailable"
