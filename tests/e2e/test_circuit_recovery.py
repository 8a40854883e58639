"""A short outage costs a short wait: a real worker, a steady stream, a receiver that goes down
for 20 s (each failure taking a second to come back) and recovers. Every failure recorded while
the circuit is open (the requests that were in flight when it opened) must leave the probe
schedule alone, so the circuit closes soon after the receiver is back."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import pytest

from endpoints.models import Endpoint
from endpoints.services import endpoint_create
from tests.workers import ROOT, start_worker, worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RATE = 20  # events a second
OUTAGE_STARTS = 4  # seconds into the stream
OUTAGE_SECONDS = 20
STREAM_SECONDS = 30
RECOVERY_DEADLINE = 60  # every event delivered within this many seconds of the recovery


def test_every_event_arrives_within_a_minute_of_the_receivers_recovery(
    tmp_path, e2e_settings, clean_broker, receiver, tenant, invoice_paid
):
    # given a worker on a shortened retry schedule (which the probes follow) and a receiver
    # whose failures take a second each
    e2e_settings.WEBHOOKS_RETRY_SCHEDULE = [1, 2, 4, 8, 16, 32, 600, 600]
    receiver.outage_seconds = 1.0
    endpoint, _ = endpoint_create(tenant=tenant, url=receiver.url("/outage"))
    env = worker_env()
    worker = start_worker(tmp_path, env=env)
    publisher = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.publish_stream", "acme", "invoice.paid"]
        + [str(RATE), str(STREAM_SECONDS)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    try:
        # when the receiver fails for 20 s in the middle of the stream, then recovers
        time.sleep(OUTAGE_STARTS)
        receiver.outage.set()
        time.sleep(OUTAGE_SECONDS)
        opened = Endpoint.objects.get(pk=endpoint.pk).circuit_state
        receiver.outage.clear()
        recovered = time.monotonic()
        published = set(publisher.communicate(timeout=60)[0].decode().split())

        # then every event is delivered within a minute of the recovery
        def missing() -> set[str]:
            got = {r.headers["webhook-id"] for r in receiver.received() if r.path == "/outage"}
            return published - got

        while missing() and time.monotonic() < recovered + RECOVERY_DEADLINE:
            time.sleep(0.5)
        lost = missing()
        statuses = Counter(
            Endpoint.objects.filter(pk=endpoint.pk).values_list("circuit_state", flat=True)
        )
        print(
            f"\n[circuit] published={len(published)} requests={len(receiver.received())} "
            f"missing={len(lost)} circuit during the outage={opened} now={dict(statuses)}"
        )
        assert opened == "open"  # the outage did open the circuit
        assert len(published) >= RATE * STREAM_SECONDS * 0.8
        assert lost == set()
    finally:
        publisher.kill()
        worker.stop()
