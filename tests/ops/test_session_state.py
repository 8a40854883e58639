"""No session state on PostgreSQL, so a pooler in transaction mode (PgBouncer) may stand in
front of it: each transaction may run on a different server connection, and anything a session
keeps (``LISTEN``, a session advisory lock, a plain ``SET``, a prepared statement, a cursor held
across transactions, a temporary table) would be left on one connection and missed on the next.

Two checks: every statement a representative run sends (publish, fan-out to an ordered and a
plain endpoint, the engine's claim/send/record, a retry, the sweep, a replay), captured as
Django logs them; and the SQL text written anywhere in the platform's code, for paths that run
does not reach. CI also runs the end-to-end suite through a real PgBouncer in transaction mode
(``tests/pgbouncer.py``)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deliveries import publish_event
from deliveries.models import Delivery
from deliveries.services.fanout import events_fan_out_pending
from deliveries.services.lifecycle import delivery_replay
from deliveries.services.sweep import sweep
from endpoints.services import endpoint_create
from tests.engine import deliver_due

ROOT = Path(__file__).resolve().parent.parent.parent

# A statement that leaves something behind in the session. SET LOCAL and set_config(..., true)
# end with the transaction; pg_advisory_xact_lock too.
SESSION_STATE = re.compile(
    r"""(?:\A|;)\s*(?-i:LISTEN|UNLISTEN|PREPARE|DEALLOCATE|DISCARD)\b
      | \bpg_advisory_lock(_shared)?\s*\(
      | \bpg_try_advisory_lock(_shared)?\s*\(
      | (?:\A|;)\s*(?-i:SET)\s+(?!LOCAL\b)(SESSION\s+)?[a-z_.]+\s*(=|TO\b)
      | \bset_config\s*\([^)]*,\s*false\s*\)
      | \bWITH\s+HOLD\b
      | \bCREATE\s+(TEMP|TEMPORARY)\s+TABLE\b""",
    re.IGNORECASE | re.VERBOSE,
)


def session_state(sql: str) -> list[str]:
    return [m.group(0) for m in SESSION_STATE.finditer(sql)]


@pytest.mark.parametrize(
    ("sql", "found"),
    [
        ("LISTEN deliveries", ["LISTEN"]),
        ("Listen on 127.0.0.1", []),
        ("SELECT pg_advisory_lock(42)", ["pg_advisory_lock("]),
        ("SET statement_timeout = 5", ["SET statement_timeout ="]),
        ("SELECT 1; SET SESSION lock_timeout TO 5", ["; SET SESSION lock_timeout TO"]),
        ("SELECT set_config('x.y', '1', false)", ["set_config('x.y', '1', false)"]),
        ("DECLARE c CURSOR WITH HOLD FOR SELECT 1", ["WITH HOLD"]),
        ("SELECT pg_advisory_xact_lock(42)", []),
        ("SET LOCAL statement_timeout = 5", []),
        ("UPDATE t SET status = 'x' WHERE id = 1", []),
        ("SELECT set_config('x.y', '1', true)", []),
    ],
)
def test_the_pattern_tells_session_state_from_transaction_state(sql, found):
    assert session_state(sql) == found


@pytest.mark.django_db
def test_a_run_of_the_pipeline_sends_no_statement_that_keeps_session_state(
    tenant, invoice_paid, receiver, settings
):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.05, 0.05]
    settings.WEBHOOKS_RETRY_JITTER = 0
    ordered, _ = endpoint_create(tenant=tenant, url=receiver.url("/ok/ordered"), ordered=True)
    endpoint_create(tenant=tenant, url=receiver.url("/flaky/50/plain"))
    failing, _ = endpoint_create(tenant=tenant, url=receiver.url("/status/500/failing"))

    with CaptureQueriesContext(connection) as queries:
        for n in range(6):
            publish_event(tenant, "invoice.paid", {"n": n})
        events_fan_out_pending(tenant_id=tenant.pk)
        for _ in range(20):
            deliver_due()
            sweep()
            time.sleep(0.06)  # the next try of a retrying delivery comes due (0.05 s)
            if not Delivery.objects.filter(status__in=["pending", "held", "sending"]).exists():
                break
        failed = Delivery.objects.filter(endpoint=failing, status="failed").first()
        assert failed is not None
        delivery_replay(delivery=failed)
        deliver_due()

    assert Delivery.objects.filter(endpoint=ordered, status="succeeded").count() == 6
    statements = [q["sql"] for q in queries.captured_queries]
    sent = "\n".join(statements)
    if connection.vendor == "postgresql":  # the run reached the paths that matter here
        assert "pg_advisory_xact_lock" in sent
        assert "SKIP LOCKED" in sent
    assert [s for s in statements if session_state(s)] == []


def _text(node: ast.AST) -> str | None:
    """The text of a string literal, an f-string (``{}`` for what it interpolates) or a ``+``
    of them; None for anything else."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(v) or "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is not None or right is not None:
            return (left or "{}") + (right or "{}")
    return None


def _texts(node: ast.AST) -> Iterator[str]:
    text = _text(node)
    if text is not None:
        yield text  # whole: a fragment such as " SET status = ..." is part of an UPDATE
        return
    for child in ast.iter_child_nodes(node):
        yield from _texts(child)


def _sql_in_code() -> list[tuple[str, str]]:
    """Every string in the platform's code (migrations aside), with its file."""
    found = []
    for app in ("deliveries", "endpoints", "webhooks_platform", "platform_core"):
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for text in _texts(ast.parse(path.read_text())):
                found.append((str(path.relative_to(ROOT)), text))
    return found


def test_no_sql_written_in_the_code_keeps_session_state():
    literals = _sql_in_code()
    assert any("pg_advisory_xact_lock" in text for _, text in literals)  # the scan sees SQL
    offending = [(path, session_state(text)) for path, text in literals if session_state(text)]
    assert offending == []


def test_server_side_cursors_are_off_on_postgresql():
    """``QuerySet.iterator()`` would otherwise declare a cursor WITH HOLD outside a transaction
    and fetch from it in later ones."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; import django; django.setup();"
            "print(settings.DATABASES['default'].get('DISABLE_SERVER_SIDE_CURSORS'))",
        ],
        cwd=ROOT,
        env={
            "DJANGO_SETTINGS_MODULE": "webhooks_platform.settings",
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "True"
