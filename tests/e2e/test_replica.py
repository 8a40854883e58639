"""The dashboard against a real streaming replica: a private primary and a replica made from it
with ``pg_basebackup`` (``tests/pg_cluster.py``), the platform in a process of its own with
``DATABASE_REPLICA_URL`` set (``tests/replica_probe.py``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.db import connection

from tests.pg_cluster import bindir, primary_and_replica
from tests.workers import ROOT, worker_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bindir() is None, reason="PostgreSQL's server programs are not installed"),
]


@pytest.fixture(scope="module")
def observed(tmp_path_factory):  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql":
        pytest.skip("a read replica is a PostgreSQL deployment; this runs in the PostgreSQL pass")
    var = tmp_path_factory.mktemp("var")
    with primary_and_replica() as pair:
        env = worker_env(
            DATABASE_URL=pair.url(pair.primary_port),
            DATABASE_REPLICA_URL=pair.url(pair.replica_port),
            DATABASE_REPLICA_LAG_NOTICE="1",
            WEBHOOKS_ALLOWED_SUBNETS="127.0.0.0/8",
            ALLOWED_HOSTS="testserver",
            WEBHOOKS_VAR_DIR=str(var),
        )
        env.pop("CELERY_BROKER_URL")  # the embedded broker in its own directory: no worker
        done = subprocess.run(
            [sys.executable, "-m", "tests.replica_probe"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_log_reads_the_replica_and_shows_only_what_it_has_replayed(observed):
    first = observed["caught_up"]["ids"][0]
    assert observed["first_replicated"] is True
    assert observed["caught_up"] == {"ids": [first], "behind": False}
    # Replay paused, a second delivery written on the primary: the log has not got it, and
    # says how far behind it is.
    assert observed["paused"] == {"ids": [first], "behind": True}
    assert observed["paused_detail_status"] == 404


def test_reads_outside_the_log_stay_on_the_primary(observed):
    assert observed["primary_outside_lagging_reads"] is True
    # The endpoint itself from the primary; its charts and recent deliveries from the replica,
    # which the page says is behind.
    assert observed["endpoint_page"] == {"status": 200, "behind": True}


def test_a_browser_that_just_wrote_reads_the_primary_others_the_replica(observed):
    assert observed["replay_status"] == 302
    assert len(observed["after_own_write"]["ids"]) == 2
    assert observed["after_own_write"]["behind"] is False
    assert observed["other_reader_after_write"] == observed["paused"]


def test_once_replay_resumes_the_log_catches_up_and_says_nothing(observed):
    assert observed["second_replicated"] is True
    assert len(observed["resumed"]["ids"]) == 2
    assert observed["resumed"]["behind"] is False
