"""`make run`'s demo: its endpoint follows the configured ports, and the login it prints is true."""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from endpoints.models import Endpoint

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_the_demo_endpoint_follows_demo_receiver_port(monkeypatch):
    monkeypatch.setenv("DEMO_RECEIVER_PORT", "9155")

    output = _seed()

    assert Endpoint.objects.filter(url="http://127.0.0.1:9155/webhooks").exists()
    assert "receive_webhooks --port 9155" in output


def test_a_dashboard_on_9000_moves_the_demo_receiver_off_it(monkeypatch):
    monkeypatch.delenv("DEMO_RECEIVER_PORT", raising=False)
    monkeypatch.setenv("PORT", "9000")

    _seed()

    assert Endpoint.objects.filter(url="http://127.0.0.1:9001/webhooks").exists()
    assert not Endpoint.objects.filter(url__contains=":9000/").exists()


def test_the_demo_password_is_printed_only_while_it_applies(monkeypatch):
    monkeypatch.delenv("DEMO_RECEIVER_PORT", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    assert "admin / admin" in _seed()

    admin = get_user_model().objects.get(username="admin")
    admin.set_password("a-better-one-42")
    admin.save()

    output = _seed()
    assert "admin / admin" not in output
    assert "admin, with the password set for it" in output


def test_make_run_installs_the_runtime_dependencies_only():
    makefile = (ROOT / "Makefile").read_text()
    run_target = re.search(r"^run: (.+)$", makefile, re.MULTILINE).group(1)
    run_install = re.search(r"^\$\(VENV\)/\.installed-run:.*?\n\n", makefile, re.S | re.M).group(0)

    assert run_target.split() == ["install-run"]
    assert "-e .\n" in run_install
    assert "[dev]" not in run_install
    assert re.search(r"^test: install$", makefile, re.MULTILINE)
