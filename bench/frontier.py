"""The bare-bones frontier engine: how fast a backlog to one endpoint can drain on this machine
with the same bookkeeping and nothing else (DESIGN.md, "Throughput by design").

``python -m bench.frontier TENANT_ID ENDPOINT_ID SECRET URL`` is one process; the bench starts
one per core, the first with ``--fan-out``. Each process: fan-out as one ``INSERT … SELECT``
(the first), claim as one ``UPDATE … SKIP LOCKED … RETURNING`` joined to the event bodies (no
more than its free slots), Standard Webhooks HMAC signing, aiohttp with 64 requests in flight,
attempts written with ``COPY`` (request and response headers and body) and states with one
``UPDATE … FROM unnest(…)`` under the claim token. No endpoint cache, windows, circuit, retry
schedule, DNS or SSRF check, metrics or logging: the figure every engine here is measured
against, never something to run in production.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

IN_FLIGHT = 64
FLUSH_EVERY = 64  # results written per bulk at most
FLUSH_AFTER = 0.02  # seconds a result may wait for its bulk
IDLE_EXIT = 3.0  # seconds with nothing claimed before a process ends


def _tables() -> tuple[str, str, str, str]:
    import django

    django.setup()
    from django.conf import settings

    from deliveries.models import Attempt, Delivery, Event

    db = settings.DATABASES["default"]
    dsn = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} dbname={db['NAME']}"
    dsn += f" user={db['USER'] or 'postgres'}"
    if db.get("PASSWORD"):
        dsn += f" password={db['PASSWORD']}"
    return dsn, Delivery._meta.db_table, Event._meta.db_table, Attempt._meta.db_table


async def run(args: argparse.Namespace) -> int:
    import aiohttp
    import psycopg

    from deliveries import signing

    dsn, deliveries, events, attempts = _tables()
    claim_sql = f"""
UPDATE {deliveries} AS d
SET status = 'sending', claim_token = %b, lease_expires_at = %b
FROM (SELECT id FROM {deliveries} WHERE endpoint_id = %b AND status = 'pending'
        AND next_attempt_at <= %b ORDER BY next_attempt_at, id LIMIT %b FOR UPDATE SKIP LOCKED
) AS picked, {events} AS ev
WHERE d.id = picked.id AND ev.id = d.event_id
RETURNING d.id, d.event_id, d.attempt_count, ev.body
"""  # noqa: S608
    states_sql = f"""
UPDATE {deliveries} AS d SET status = v.status, attempt_count = v.n, scheduled_attempts = v.n,
    last_attempt_at = v.at, last_status_code = v.code, last_error = v.error,
    finished_at = CASE WHEN v.status = 'succeeded' THEN v.at END,
    next_attempt_at = CASE WHEN v.status = 'succeeded' THEN d.next_attempt_at ELSE v.at END,
    claim_token = NULL, lease_expires_at = NULL
FROM unnest(%b::bigint[], %b::uuid[], %b::varchar[], %b::integer[], %b::timestamptz[],
            %b::integer[], %b::varchar[]) AS v(id, token, status, n, at, code, error)
WHERE d.id = v.id AND d.claim_token = v.token
"""  # noqa: S608
    copy_sql = (
        f"COPY {attempts} (delivery_id, endpoint_id, number, trigger, started_at, duration_ms, "
        "request_url, request_headers, response_status, response_headers, response_body, "
        "response_body_encoding, error) FROM STDIN"
    )
    claimer = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    writer = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    if args.fan_out:
        async with writer.transaction():
            await writer.execute(
                f"""INSERT INTO {deliveries} (event_id, endpoint_id, tenant_id, event_type_id,
                    status, attempt_count, scheduled_attempts, next_attempt_at, manual_requested,
                    last_error, cancel_reason, created_at)
                SELECT e.id, %s, e.tenant_id, e.event_type_id, 'pending', 0, 0, now(), false,
                    '', '', now()
                FROM {events} AS e WHERE e.tenant_id = %s AND e.fanned_out_at IS NULL
                ON CONFLICT DO NOTHING""",  # noqa: S608
                [args.endpoint, args.tenant],
            )
            await writer.execute(
                f"UPDATE {events} SET fanned_out_at = now() "  # noqa: S608
                "WHERE tenant_id = %s AND fanned_out_at IS NULL",
                [args.tenant],
            )
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=IN_FLIGHT), skip_auto_headers=("Accept-Encoding",)
    )
    token = uuid.uuid4()
    slots = asyncio.Semaphore(IN_FLIGHT)
    done: list[tuple[Any, ...]] = []
    wake = asyncio.Event()
    writing = asyncio.Lock()  # a bulk being written is never cancelled half-way
    print("frontier ready", flush=True)

    async def post(row: tuple[Any, ...]) -> None:
        delivery_id, event_id, count, body = row
        data = body.encode()
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        headers = {"content-type": "application/json"}
        headers.update(
            signing.headers(
                secrets=[args.secret], msg_id=event_id, timestamp=int(time.time()), body=data
            )
        )
        status, response_headers, response_body, error = 0, {}, "", ""
        try:
            async with session.post(
                args.url, data=data, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                response_headers = dict(response.headers)
                response_body = (await response.content.read(20_000)).decode("utf-8", "replace")
        except Exception as exc:  # noqa: BLE001  recorded as the try's error
            error = exc.__class__.__name__
        duration = int((time.perf_counter() - t0) * 1000)
        done.append(
            (delivery_id, event_id, count + 1, started, duration, headers, status)
            + (response_headers, response_body, error)
        )
        slots.release()
        if len(done) >= FLUSH_EVERY:
            wake.set()

    async def record() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), FLUSH_AFTER)
            wake.clear()
            if not done:
                continue
            bulk = done[:]
            del done[:]
            async with writing, writer.transaction(), writer.cursor() as cur:
                async with cur.copy(copy_sql) as copy:
                    for r in bulk:
                        await copy.write_row(
                            (r[0], args.endpoint, r[2], "scheduled", r[3], r[4], args.url)
                            + (json.dumps(r[5]), r[6], json.dumps(r[7]), r[8], "utf-8", r[9])
                        )
                ok = [200 <= r[6] < 300 for r in bulk]
                await cur.execute(
                    states_sql,
                    [
                        [r[0] for r in bulk],
                        [token] * len(bulk),
                        ["succeeded" if o else "pending" for o in ok],
                        [r[2] for r in bulk],
                        [r[3] for r in bulk],
                        [r[6] for r in bulk],
                        [r[9] for r in bulk],
                    ],
                )

    recorder = asyncio.create_task(record())
    tasks: set[asyncio.Task[None]] = set()
    idle_since = time.monotonic()
    while True:
        await slots.acquire()
        free = 1
        while not slots.locked() and free < IN_FLIGHT:
            await slots.acquire()
            free += 1
        now = datetime.now(UTC)
        cur = await claimer.execute(
            claim_sql, [token, now + timedelta(seconds=60), args.endpoint, now, free]
        )
        rows = await cur.fetchall()
        for _ in range(free - len(rows)):
            slots.release()
        for row in rows:
            task = asyncio.create_task(post(row))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if rows:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > IDLE_EXIT and not tasks and not done:
            break
        else:
            await asyncio.sleep(0.005)
    async with writing:
        recorder.cancel()
    await session.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tenant", type=int)
    parser.add_argument("endpoint")
    parser.add_argument("secret")
    parser.add_argument("url")
    parser.add_argument("--fan-out", action="store_true", help="create the deliveries first")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webhooks_platform.settings")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
