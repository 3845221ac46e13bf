"""Benchmark: bare aiosmtplib -> aiosmtpd versus the full worker pipeline (claim -> limits -> send -> event).

Run by `make bench-pipeline` (`python -m bench.pipeline` or `python bench/pipeline.py`). Both halves send
the same messages (the bytes the worker renders for each job, rendered ahead for the bare half) over the
same number of connections to the same aiosmtpd server (a child process that accepts and discards), on
loopback, in one run; limits are wide open so the pipeline is measured, not the caps. Round trips are
counted by the servers, not by the worker: Postgres transactions (pg_stat_database; every statement the
worker runs is one) and Redis reads (INFO total_reads_processed; a pipelined batch is one read).
Each round also runs the pipeline with SMTP transcripts on (pot_worker.archive writing to the stack's
S3 store, SeaweedFS), timed until the last transcript is written too, so both figures are printed
(`--no-transcripts` skips that half). Prints one `name=value` per line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import asyncpg
import redis
from pot_common.db import apply_schema
from pot_common.message import Sender, Template, message_id, render_message
from pot_stack.postgres import Postgres
from pot_stack.redis_server import RedisServer
from pot_stack.s3_server import S3Server
from pot_stack.service import free_port, kill_group, wait_until
from pot_worker.clock import SystemClock
from pot_worker.config import WorkerSettings
from pot_worker.runner import Worker

# The campaign both halves send: the pipeline renders it per job, the bare half sends the same bytes.
SUBJECT = "Hello {{ name }}"
TEXT = "Hi {{ name }}, " + "x" * 400
UNSUBSCRIBE_URL = "https://u.test/?e={{ email }}"


def serve(port: int) -> None:
    """The receiving side: aiosmtpd accepting everything, storing nothing (a child process)."""
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 2.0.0 Ok"

    controller = Controller(Discard(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def _messages(messages: int, connections: int) -> list[list[tuple[str, str, bytes]]]:
    """Per connection, (sender, recipient, bytes) exactly as the pipeline sends them: same template,
    variables, sender and recipient; job ids as the queue numbers them."""
    template = Template(SUBJECT, TEXT, None, UNSUBSCRIBE_URL, None)
    now = datetime.now(UTC)
    lanes: list[list[tuple[str, str, bytes]]] = [[] for _ in range(connections)]
    for i in range(messages):
        sender = f"mb{i % connections}@acme-outreach.test"
        recipient = f"r{i}@good.test"
        body = render_message(
            template, Sender(sender, ""), recipient, {"name": f"r{i}"}, message_id(1, i + 1, 1, sender), now
        )
        lanes[i % connections].append((sender, recipient, body))
    return lanes


async def bare(port: int, messages: int, connections: int) -> dict[str, float]:
    """Messages per second with aiosmtplib alone: one connection per task, messages split evenly."""
    lanes = _messages(messages, connections)

    async def one(items: list[tuple[str, str, bytes]]) -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, local_hostname="bench.local")
        await smtp.connect()
        for sender, recipient, body in items:
            await smtp.sendmail(sender, [recipient], body)
        await smtp.quit()

    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(one(items) for items in lanes))
    elapsed = time.perf_counter() - started
    return {"rate": messages / elapsed, "client_cpu_us": (time.process_time() - cpu) / messages * 1e6}


async def pipeline(
    admin_url: str,
    db_url: str,
    redis_url: str,
    port: int,
    messages: int,
    connections: int,
    transcripts: dict[str, str] | None = None,
) -> dict[str, float]:
    """The worker end to end, in-process, with one mailbox (one connection) per connection of the bare run;
    with `transcripts` (POT_TRANSCRIPTS_* settings) the clock stops once every transcript is written too."""
    conn = await asyncpg.connect(db_url)
    try:
        await apply_schema(conn)
        pool_id = await conn.fetchval(
            "INSERT INTO pools (namespace, name) VALUES ('bench', 'pool') RETURNING id"
        )
        for i in range(connections):
            await conn.execute(
                "INSERT INTO mailboxes (pool_id, namespace, name, address, smtp_host, smtp_port, smtp_tls,"
                " daily_cap, hourly_cap)"
                " VALUES ($1, 'bench', $2, $3, '127.0.0.1', $4, 'none', 1000000, 1000000)",
                pool_id,
                f"mb{i}",
                f"mb{i}@acme-outreach.test",
                port,
            )
        cid = await conn.fetchval(
            "INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template,"
            " unsubscribe_url, state) VALUES ($1, 'bench', 'c', 't', $2, $3, $4, 'running') RETURNING id",
            pool_id,
            SUBJECT,
            TEXT,
            UNSUBSCRIBE_URL,
        )
        await conn.copy_records_to_table(
            "send_jobs",
            records=[(cid, f"r{i}@good.test", json.dumps({"name": f"r{i}"})) for i in range(messages)],
            columns=["campaign_id", "recipient", "variables"],
        )
    finally:
        await conn.close()
    database = db_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(admin_url)
    redis_client = redis.Redis.from_url(redis_url)
    try:
        pg_before = await _transactions(admin, database)
        redis_before = _reads(redis_client)
        # The worker's default settings (lanes, claim sizes, candidates): what a pool runs with.
        settings = WorkerSettings.model_validate(
            {
                "pool": "bench/pool",
                "database_url": db_url,
                "redis_url": redis_url,
                "metrics_port": 0,
                **{k.removeprefix("POT_").lower(): v for k, v in (transcripts or {}).items()},
            }
        )
        worker = Worker(settings, clock=SystemClock())
        await worker.start()
        # The resolver would look good.test up in public DNS; the benchmark measures our code, not DNS.
        worker.providers._answers.put("good.test", "good.test")
        try:
            cpu = time.process_time()
            started = time.perf_counter()
            run = asyncio.create_task(worker.run())
            # Done when every job's result is committed; watched in-process, so the benchmark adds no
            # queries of its own to the Postgres work it measures.
            while worker.stats.results_written < messages and not run.done():  # noqa: ASYNC110 (no event to wait on; 5 ms is <0.5 % of a round)
                await asyncio.sleep(0.005)
            if transcripts and not await worker.archive.flush():
                raise SystemExit("pipeline round could not write its transcripts")
            elapsed = time.perf_counter() - started
            worker_cpu = time.process_time() - cpu
            worker.stop()
            await run
        finally:
            await worker.close()
        pg_transactions = await _transactions(admin, database, settle_from=pg_before) - pg_before
        redis_reads = _reads(redis_client) - redis_before - 1  # less the INFO call itself
        async with _connect(db_url) as check:
            sent = await check.fetchval("SELECT count(*) FROM send_jobs WHERE state = 'sent'")
            events = await check.fetchval("SELECT count(*) FROM delivery_events WHERE outcome = 'sent'")
        if sent != messages or events != messages:
            raise SystemExit(f"pipeline round ended with {sent} jobs sent and {events} events of {messages}")
        if transcripts and worker.archive.written != messages:
            raise SystemExit(f"pipeline round wrote {worker.archive.written} transcripts of {messages}")
        return {
            "pipeline_msgs_per_s": messages / elapsed,
            "worker_cpu_us": worker_cpu / messages * 1e6,
            "redis_round_trips_per_send": redis_reads / messages,
            "pg_round_trips_per_job": pg_transactions / worker.stats.jobs_claimed,
            "claim_size": worker.claim_size,
        }
    finally:
        redis_client.close()
        await admin.close()


@contextlib.asynccontextmanager
async def _connect(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


async def _transactions(admin: asyncpg.Connection, database: str, settle_from: int | None = None) -> int:
    """Committed and rolled-back transactions in `database`, as Postgres counts them.

    Backends report their counts when they exit: after the worker closed its pool, wait until the
    database has no backends left and the count has stopped moving.
    """
    sql = "SELECT numbackends, xact_commit + xact_rollback AS xacts FROM pg_stat_database WHERE datname = $1"
    deadline = time.monotonic() + 10
    last = None
    while True:
        await admin.execute("SELECT pg_stat_clear_snapshot()")
        row = await admin.fetchrow(sql, database)
        if settle_from is None or (row["numbackends"] == 0 and row["xacts"] == last):
            return int(row["xacts"])
        if time.monotonic() > deadline:
            raise SystemExit(f"Postgres statistics for {database} did not settle")
        last = row["xacts"]
        await asyncio.sleep(0.1)


def _reads(client: redis.Redis) -> int:
    """Reads the Redis server processed (one per round trip, however many commands it carried)."""
    return int(client.info("stats")["total_reads_processed"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="bare/pipeline pairs; medians reported")
    parser.add_argument(
        "--transcripts",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run each round with SMTP transcripts written to the stack's S3 store (default: on)",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return
    root = Path(tempfile.mkdtemp(prefix="pot-bench-"))
    root.chmod(0o755)
    postgres, redis_server = Postgres(root), RedisServer(root)
    s3 = S3Server(root) if args.transcripts else None
    port = free_port()
    # The receiving server is its own process for both halves, so neither shares a core with it unfairly.
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from bench.pipeline import serve; serve(int(sys.argv[1]))",
            str(port),
        ],
        cwd=Path(__file__).resolve().parent.parent,
        start_new_session=True,
    )
    bare_runs: list[dict[str, float]] = []
    runs: list[dict[str, float]] = []
    recorded: list[dict[str, float]] = []
    try:
        postgres.start()
        redis_server.start()
        if s3 is not None:
            s3.start()
        wait_until(lambda: _greets(port), timeout=20, what="aiosmtpd")
        # Alternating rounds on a shared machine: a burst of load elsewhere hits both sides alike.
        for round_no in range(args.rounds):
            sink_cpu = _cpu_seconds(server.pid)
            bare_runs.append(asyncio.run(bare(port, args.messages, args.connections)))
            bare_runs[-1]["sink_cpu_us"] = (_cpu_seconds(server.pid) - sink_cpu) / args.messages * 1e6
            db_url = postgres.url_for(_fresh_database(postgres.url, f"bench_{round_no}"))
            with redis.Redis.from_url(redis_server.url) as client:
                client.flushall()  # every round starts without limit counters, like the first
            sink_cpu = _cpu_seconds(server.pid)
            runs.append(
                asyncio.run(
                    pipeline(postgres.url, db_url, redis_server.url, port, args.messages, args.connections)
                )
            )
            runs[-1]["sink_cpu_us"] = (_cpu_seconds(server.pid) - sink_cpu) / args.messages * 1e6
            if s3 is not None:
                db_url = postgres.url_for(_fresh_database(postgres.url, f"bench_{round_no}_transcripts"))
                with redis.Redis.from_url(redis_server.url) as client:
                    client.flushall()
                recorded.append(
                    asyncio.run(
                        pipeline(
                            postgres.url,
                            db_url,
                            redis_server.url,
                            port,
                            args.messages,
                            args.connections,
                            s3.env(),
                        )
                    )
                )
    finally:
        kill_group(server.pid)
        if s3 is not None:
            s3.stop()
        redis_server.stop()
        postgres.stop()

    def median(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    bare_rate = median(bare_runs, "rate")
    pipeline_rate = median(runs, "pipeline_msgs_per_s")
    print(f"messages={args.messages}")
    print(f"connections={args.connections}")
    print(f"rounds={args.rounds}")
    print(f"bare_smtp_msgs_per_s={bare_rate:.1f}")
    print(f"pipeline_msgs_per_s={pipeline_rate:.1f}")
    print(f"pipeline_vs_bare_ratio={pipeline_rate / bare_rate:.3f}")
    print(f"redis_round_trips_per_send={median(runs, 'redis_round_trips_per_send'):.3f}")
    print(f"pg_round_trips_per_job={median(runs, 'pg_round_trips_per_job'):.3f}")
    print(f"pipeline_claim_size_reached={median(runs, 'claim_size'):.0f}")
    # Where the time goes: CPU per message of the sending process and of the receiving server.
    print(f"bare_client_cpu_us_per_msg={median(bare_runs, 'client_cpu_us'):.0f}")
    print(f"pipeline_worker_cpu_us_per_msg={median(runs, 'worker_cpu_us'):.0f}")
    print(f"bare_sink_cpu_us_per_msg={median(bare_runs, 'sink_cpu_us'):.0f}")
    print(f"pipeline_sink_cpu_us_per_msg={median(runs, 'sink_cpu_us'):.0f}")
    if recorded:
        # The same pipeline with every SMTP command and reply recorded and written to S3 (gzip batches).
        recorded_rate = median(recorded, "pipeline_msgs_per_s")
        print(f"pipeline_transcripts_msgs_per_s={recorded_rate:.1f}")
        print(f"pipeline_transcripts_vs_off_ratio={recorded_rate / pipeline_rate:.3f}")
        print(f"pipeline_transcripts_worker_cpu_us_per_msg={median(recorded, 'worker_cpu_us'):.0f}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _fresh_database(url: str, name: str) -> str:
    """A new database per pipeline run, so every run starts from the same empty queue."""

    async def create() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()

    asyncio.run(create())
    return name


def _greets(port: int) -> bool:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        return conn.recv(64).startswith(b"220")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
