"""Partitioned attempts (docs/operations.md, "Partitioned history"), measured in one run:

1. Retention of N finished attempts (1,000,000; ``--quick`` 50,000), four to a delivery, a
   month and more old: the purge as it runs with the attempts table plain (rows deleted in
   batches) and partitioned by week (the old weeks detached and dropped; the deliveries still
   deleted row by row). For each: seconds, WAL bytes (``pg_current_wal_lsn`` before and after;
   the cluster's, so other databases' writes meanwhile count too) and how long a probe that
   writes an attempt and updates a delivery every 20 ms, as the engine does, was held up
   (its slowest and 99th-percentile round trip: the lock waits the purge caused).
2. Delivery throughput with the table plain and partitioned (5 weeks behind, 8 ahead, as a
   30-day retention keeps it): a backlog drained by one in-process engine to a local receiver,
   and the engine's writes alone (its attempt ``COPY`` and delivery update, no HTTP), the two
   layouts alternated, the median of each.

Run on its own: ``python -m bench.partitions [--quick]`` (BENCH_DB_NAME, BENCH_BROKER_URL,
BENCH_VAR_DIR as for bench/run.py); ``bench/run.py --scenario 11`` runs it among the others.
The bench database is switched between the layouts with the migration (0011 <-> 0012).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import infra

FULL_ATTEMPTS = 1_000_000
QUICK_ATTEMPTS = 50_000
FULL_BACKLOG = 10_000
QUICK_BACKLOG = 3_000
ROUNDS = 5


def _layout(partitioned: bool, behind_weeks: int = 5) -> None:
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection

    from deliveries.services import partitions

    infra.database_truncate()
    call_command("migrate", "deliveries", "0012" if partitioned else "0011", verbosity=0)
    if partitioned:
        # The steady state of a 30-day retention: week partitions only, 5 behind, 8 ahead.
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {partitions.LEGACY}")
        partitions.partitions_ensure(behind=timedelta(weeks=behind_weeks))


def _fixtures(base: str, slug: str) -> tuple[Any, Any, Any]:
    from deliveries import signing
    from endpoints import crypto
    from endpoints.models import Endpoint, EndpointSecret, EventType, Tenant

    event_type, _ = EventType.objects.get_or_create(name="bench.partition")
    tenant = Tenant.objects.create(slug=slug, name=slug)
    endpoint = Endpoint.objects.create(tenant=tenant, url=f"{base}/ok/{slug}")
    secret = signing.secret_generate()
    EndpointSecret.objects.create(endpoint=endpoint, encrypted=crypto.encrypt(secret))
    return tenant, endpoint, event_type


def _old_history(attempts: int, tenant: Any, endpoint: Any, event_type: Any) -> None:
    """``attempts`` finished attempts, 4 a delivery, spread over weeks 6 to 9 ago (SQL, fast)."""
    from django.db import connection

    deliveries = attempts // 4
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO deliveries_event (id, body, created_at, fanned_out_at, event_type_id, "
            "tenant_id, body_is_payload, channels, tags, is_test) "
            "SELECT 'evt_old_' || g, '{\"n\": 1}', now() - interval '6 weeks' "
            "- (g::float / %s) * interval '3 weeks', now() - interval '6 weeks', %s, %s, false, "
            "'[]', '[]', false FROM generate_series(1, %s) g",
            [deliveries, event_type.pk, tenant.pk, deliveries],
        )
        cur.execute(
            "INSERT INTO deliveries_delivery (status, attempt_count, scheduled_attempts, "
            "manual_requested, last_error, cancel_reason, created_at, finished_at, endpoint_id, "
            "event_type_id, tenant_id, event_id) "
            "SELECT 'succeeded', 4, 4, false, '', '', e.created_at, e.created_at, %s, %s, %s, "
            "e.id FROM deliveries_event e WHERE e.id LIKE 'evt_old_%%' ORDER BY e.created_at",
            [endpoint.pk, event_type.pk, tenant.pk],
        )
        cur.execute(
            "INSERT INTO deliveries_attempt (delivery_id, endpoint_id, number, trigger, "
            "started_at, duration_ms, request_url, request_headers, response_status, "
            "response_headers, response_body, response_body_encoding, error, request_method) "
            "SELECT d.id, d.endpoint_id, n, 'scheduled', d.created_at + n * interval '1 minute', "
            "12, 'http://127.0.0.1/hook', '{\"content-type\": \"application/json\"}', "
            "CASE WHEN n = 4 THEN 200 ELSE 500 END, '{}', repeat('x', 200), 'utf-8', '', 'POST' "
            "FROM deliveries_delivery d CROSS JOIN generate_series(1, 4) n "
            "WHERE d.event_id LIKE 'evt_old_%%'"
        )
        cur.execute("CHECKPOINT")
        cur.execute("VACUUM ANALYZE deliveries_attempt, deliveries_delivery, deliveries_event")


class Probe:
    """What the engine does, every 20 ms, on its own connection: write an attempt and update
    its delivery in one transaction. The slowest round trips are the purge's lock waits."""

    def __init__(self, delivery_id: int, endpoint_id: str) -> None:
        self.delivery_id, self.endpoint_id = delivery_id, endpoint_id
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(infra.DATABASE_URL.replace("postgres://", "postgresql://")) as conn:
            while not self._stop.is_set():
                t = time.perf_counter()
                with conn.transaction():
                    conn.execute(
                        "UPDATE deliveries_delivery SET attempt_count = attempt_count + 1 "
                        "WHERE id = %s",
                        [self.delivery_id],
                    )
                    conn.execute(
                        "INSERT INTO deliveries_attempt (delivery_id, endpoint_id, number, "
                        "trigger, started_at, duration_ms, request_url, request_headers, "
                        "response_status, response_headers, response_body, "
                        "response_body_encoding, error, request_method) VALUES (%s, %s, 1, "
                        "'scheduled', now(), 1, 'http://127.0.0.1/', '{}', 200, '{}', '', "
                        "'utf-8', '', 'POST')",
                        [self.delivery_id, self.endpoint_id],
                    )
                self.samples.append(time.perf_counter() - t)
                time.sleep(0.02)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def figures(self) -> dict[str, float]:
        """Round trips so far (called mid-run for a phase, at the end for the whole)."""
        return {
            "probe_writes": len(self.samples),
            "probe_max_ms": round(max(self.samples, default=0) * 1000, 1),
            "probe_p99_ms": round(infra.pct(self.samples, 99) * 1000, 1),
        }


def _wal(cur: Any) -> str:
    cur.execute("SELECT pg_current_wal_lsn()")
    return cur.fetchone()[0]


BATCH = 2000


def _purge_attempts(partitioned: bool) -> int:
    """The attempts older than the retention: whole partitions dropped, or rows deleted in
    primary-key batches of ``BATCH`` (each its own transaction), as the row-wise purge does."""
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from deliveries.services.partitions import partitions_drop_older_than
    from platform_core.conf import webhooks_settings

    cutoff = timezone.now() - timedelta(days=webhooks_settings().retention_days)
    if partitioned:
        return len(partitions_drop_older_than(cutoff))
    deleted, last = 0, 0
    while True:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "DELETE FROM deliveries_attempt WHERE id IN (SELECT id FROM deliveries_attempt "
                "WHERE id > %s AND started_at < %s ORDER BY id LIMIT %s) RETURNING id",
                [last, cutoff, BATCH],
            )
            ids = [row[0] for row in cur.fetchall()]
        if not ids:
            return deleted
        deleted += len(ids)
        last = max(ids)


def purge(*, partitioned: bool, attempts: int, base: str) -> dict[str, Any]:
    from django.db import connection

    from deliveries.models import Delivery
    from deliveries.services.retention import retention_purge

    _layout(partitioned, behind_weeks=10)  # old enough for the history below
    tenant, endpoint, event_type = _fixtures(base, f"purge-{int(partitioned)}")
    _old_history(attempts, tenant, endpoint, event_type)
    from endpoints.models import Endpoint

    other = Endpoint.objects.create(tenant=tenant, url=f"{base}/ok/probe")
    live = Delivery.objects.create(
        event_id="evt_old_1", endpoint=other, tenant=tenant, event_type=event_type
    )
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM deliveries_attempt")
        before = cur.fetchone()[0]
        lsn = _wal(cur)
        with Probe(live.pk, other.pk) as probe:
            t = time.perf_counter()
            attempts_gone = _purge_attempts(partitioned)
            attempts_seconds = time.perf_counter() - t
            cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [lsn])
            attempts_wal = int(cur.fetchone()[0])
            attempts_probe = probe.figures()
            report = retention_purge()
            seconds = time.perf_counter() - t
        cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [lsn])
        wal = int(cur.fetchone()[0])
        cur.execute("SELECT count(*) FROM deliveries_attempt WHERE endpoint_id = %s", [endpoint.pk])
        left = cur.fetchone()[0]
    return {
        "layout": "partitioned" if partitioned else "plain",
        "attempts_before": before,
        "old_attempts_left": left,
        "attempts_purge": {
            "how": f"{attempts_gone} partitions dropped"
            if partitioned
            else f"{attempts_gone:,} rows deleted, {BATCH:,} a statement",
            "seconds": round(attempts_seconds, 2),
            "wal_mb": round(attempts_wal / 2**20, 1),
            **attempts_probe,
        },
        "seconds": round(seconds, 2),
        "wal_mb": round(wal / 2**20, 1),
        "attempts_deleted_row_by_row": report.attempts_deleted,
        "deliveries_deleted": report.deliveries_deleted,
        **probe.figures(),
    }


def throughput(*, partitioned: bool, backlog: int, base: str, round_no: int) -> dict[str, Any]:
    from deliveries import publish_events
    from deliveries.models import Delivery
    from deliveries.services.engines import engine_new
    from deliveries.services.fanout import events_fan_out_pending

    _layout(partitioned)
    tenant, endpoint, event_type = _fixtures(base, f"tp-{int(partitioned)}-{round_no}")
    for start in range(0, backlog, 1000):
        publish_events(
            tenant,
            [
                {"event_type": event_type.name, "payload": {"n": n, "pad": "x" * 200}}
                for n in range(start, min(start + 1000, backlog))
            ],
        )
    events_fan_out_pending(tenant_id=tenant.pk)
    engine = engine_new()
    t = time.perf_counter()
    engine.run_until_idle(timeout=600)
    seconds = time.perf_counter() - t
    done = Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.SUCCEEDED).count()
    return {
        "layout": "partitioned" if partitioned else "plain",
        "delivered": done,
        "seconds": round(seconds, 2),
        "deliveries_per_s": round(done / seconds, 1),
    }


RECORD_BATCHES = 400
RECORD_BATCH = 50


def record_path(*, partitioned: bool, round_no: int) -> dict[str, Any]:
    """The engine's writes alone, no HTTP: ``RECORD_BATCHES`` transactions, each the engine's
    attempt ``COPY`` of ``RECORD_BATCH`` rows and an update of their deliveries (what a
    partitioned table could make slower, without the receiver's and the machine's noise)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from deliveries.engine.record import attempts_insert
    from deliveries.models import Delivery

    _layout(partitioned)
    tenant, endpoint, event_type = _fixtures(
        "http://127.0.0.1:9", f"rp-{int(partitioned)}-{round_no}"
    )
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO deliveries_event (id, body, created_at, event_type_id, tenant_id, "
            "body_is_payload, channels, tags, is_test) SELECT 'evt_rp_' || g, '{}', now(), %s, "
            "%s, false, '[]', '[]', false FROM generate_series(1, %s) g",
            [event_type.pk, tenant.pk, RECORD_BATCH],
        )
        cur.execute(
            "INSERT INTO deliveries_delivery (status, attempt_count, scheduled_attempts, "
            "manual_requested, last_error, cancel_reason, created_at, lease_expires_at, "
            "endpoint_id, event_type_id, tenant_id, event_id) SELECT 'sending', 0, 0, false, "
            "'', '', now(), now() + interval '1 day', %s, %s, %s, 'evt_rp_' || g "
            "FROM generate_series(1, %s) g",
            [endpoint.pk, event_type.pk, tenant.pk, RECORD_BATCH],
        )
    ids = list(Delivery.objects.filter(endpoint=endpoint).values_list("pk", flat=True))
    headers = {"content-type": "application/json"}
    t = time.perf_counter()
    for n in range(RECORD_BATCHES):
        now = timezone.now()
        rows = [
            (d, endpoint.pk, n + 1, "scheduled", now, 5, endpoint.url, headers, 200, {}, "ok")
            + ("utf-8", "", "POST", None)
            for d in ids
        ]
        with transaction.atomic():
            attempts_insert(rows)
            Delivery.objects.filter(pk__in=ids).update(attempt_count=n + 1, last_attempt_at=now)
    seconds = time.perf_counter() - t
    return {
        "layout": "partitioned" if partitioned else "plain",
        "attempts": RECORD_BATCHES * len(ids),
        "seconds": round(seconds, 2),
        "attempts_per_s": round(RECORD_BATCHES * len(ids) / seconds, 1),
    }


def run(out: Path, *, quick: bool, logs: Path | None = None) -> dict[str, Any]:
    """Both measurements; leaves the bench database partitioned (as migrated)."""
    import os

    attempts = QUICK_ATTEMPTS if quick else FULL_ATTEMPTS
    backlog = QUICK_BACKLOG if quick else FULL_BACKLOG
    logs = logs or out
    logs.mkdir(parents=True, exist_ok=True)
    receiver = infra.Receiver(logs)
    try:
        purges = [
            purge(partitioned=False, attempts=attempts, base=receiver.base),
            purge(partitioned=True, attempts=attempts, base=receiver.base),
        ]
        rounds, records = [], []
        for r in range(ROUNDS):
            for partitioned in (False, True) if r % 2 == 0 else (True, False):
                rounds.append(
                    throughput(
                        partitioned=partitioned, backlog=backlog, base=receiver.base, round_no=r
                    )
                )
                records.append(record_path(partitioned=partitioned, round_no=r))
    finally:
        infra.stop(receiver.proc)
        _layout(True)

    def median(layout: str, runs: list[dict[str, Any]] | None = None) -> float:
        runs = rounds if runs is None else runs
        key = "deliveries_per_s" if runs is rounds else "attempts_per_s"
        return statistics.median(x[key] for x in runs if x["layout"] == layout)

    plain, parted = purges
    return {
        "scenario": "11",
        "title": f"partitioned attempts: purge of {attempts:,} attempts, throughput",
        "purge": purges,
        "purge_speedup": round(plain["seconds"] / parted["seconds"], 1)
        if parted["seconds"]
        else None,
        "purge_wal_ratio": round(parted["wal_mb"] / plain["wal_mb"], 3)
        if plain["wal_mb"]
        else None,
        "throughput_rounds": rounds,
        "throughput_plain_per_s": median("plain"),
        "throughput_partitioned_per_s": median("partitioned"),
        "throughput_ratio": round(median("partitioned") / median("plain"), 3),
        "record_path_rounds": records,
        "record_path_ratio": round(median("partitioned", records) / median("plain", records), 3),
        "load_average": os.getloadavg(),
    }


def one_line(r: dict[str, Any]) -> str:
    plain, parted = r["purge"]
    a, b = plain["attempts_purge"], parted["attempts_purge"]
    return (
        f"purge of {plain['attempts_before']:,} attempts: row deletes {a['seconds']} s, "
        f"{a['wal_mb']} MB WAL, probe max {a['probe_max_ms']} ms; partition drops "
        f"{b['seconds']} s, {b['wal_mb']} MB WAL, probe max {b['probe_max_ms']} ms ({b['how']}); "
        f"whole retention run plain {plain['seconds']} s / partitioned {parted['seconds']} s; "
        f"throughput plain "
        f"{r['throughput_plain_per_s']}/s, partitioned {r['throughput_partitioned_per_s']}/s, "
        f"ratio {r['throughput_ratio']}; the engine's writes alone (no HTTP) partitioned vs plain "
        f"{r['record_path_ratio']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 attempts, a small backlog")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    infra.configure_this_process()
    infra.database_prepare()
    out = args.out / "quick" if args.quick else args.out
    out.mkdir(parents=True, exist_ok=True)
    result = run(out, quick=args.quick, logs=infra.VAR_DIR / "logs-partitions")
    (out / "11.json").write_text(json.dumps(result, indent=1) + "\n")
    print(one_line(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def scenario_11(bench: Any, *, quick: bool) -> dict[str, Any]:
    """From bench/run.py: its workers stop first (they would take the backlog from the
    in-process engine), then start again on the emptied database."""
    bench.workers.stop()
    try:
        return run(bench.out, quick=quick, logs=bench.logs)
    finally:
        bench.workers = infra.Workers(
            bench.logs, count=bench.worker_count, concurrency=bench.concurrency, extra_env={}
        )
        bench.cpu = infra.CpuMeter(bench.workers, bench.receiver, bench.publishers.pids)
