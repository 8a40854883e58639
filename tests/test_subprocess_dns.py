"""Processes a test starts answer name lookups from the test's table, as the test does."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.workers import ROOT, worker_env

# Checks that the process runs with the test resolver before it looks anything up.
_PROBE = """
import asyncio, json
from endpoints import url_safety
assert url_safety.resolve is not url_safety._system_resolve, "system resolver in place"
assert url_safety.resolve_async.__module__ == "tests.fake_dns", "async resolver not patched"
answers = {"sync": [str(a) for a in url_safety.resolve("hooks.worker.test", 443)]}
answers["async"] = [str(a) for a in asyncio.run(url_safety.resolve_async("hooks.worker.test", 443))]
try:
    asyncio.run(url_safety.resolve_async("elsewhere.test", 443))
except OSError as exc:
    answers["unknown"] = str(exc)
print(json.dumps(answers))
"""


def test_a_started_process_resolves_from_the_tests_table(dns):
    # given a name only the test's table knows
    dns["hooks.worker.test"] = ["127.0.0.1", "::1"]

    # when a process started with the workers' environment looks names up
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    # then both seams answer from that table, and a name outside it fails there
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "sync": ["127.0.0.1", "::1"],
        "async": ["127.0.0.1", "::1"],
        "unknown": "test resolver: unknown host elsewhere.test",
    }
