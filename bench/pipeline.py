"""Benchmark: bare aiosmtplib -> aiosmtpd versus the full worker pipeline (claim -> limits -> send -> event).

Run by `make bench-pipeline` (`python -m bench.pipeline` or `python bench/pipeline.py`). Both halves send
the same number of messages over the same number of connections to the same aiosmtpd server (a child
process that accepts and discards), on loopback, in one run; limits are wide open so the pipeline is
measured, not the caps. Prints one `name=value` per line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import asyncpg
import redis
from pot_common.db import apply_schema
from pot_stack.postgres import Postgres
from pot_stack.redis_server import RedisServer
from pot_stack.service import free_port, kill_group, wait_until
from pot_worker.clock import SystemClock
from pot_worker.config import WorkerSettings
from pot_worker.worker import Worker


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


def _sample_message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Acme <mb0@acme-outreach.test>"
    msg["To"] = "someone@good.test"
    msg["Subject"] = "Hello someone"
    msg["Message-ID"] = "<bench@acme-outreach.test>"
    msg.set_content("Hi someone, " + "x" * 400)
    return msg.as_bytes()


async def bare(port: int, messages: int, connections: int) -> float:
    """Messages per second with aiosmtplib alone: one connection per task, messages split evenly."""
    body = _sample_message()

    async def one(count: int) -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, local_hostname="bench.local")
        await smtp.connect()
        for i in range(count):
            await smtp.sendmail("mb0@acme-outreach.test", [f"r{i}@good.test"], body)
        await smtp.quit()

    share = [messages // connections + (1 if i < messages % connections else 0) for i in range(connections)]
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in share))
    return messages / (time.perf_counter() - started)


async def pipeline(
    db_url: str, redis_url: str, port: int, messages: int, connections: int
) -> dict[str, float]:
    """The worker end to end, in-process, with one mailbox (one connection) per connection of the bare run."""
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
            " unsubscribe_url, state) VALUES ($1, 'bench', 'c', 't', 'Hello {{ name }}', $2,"
            " 'https://u.test/?e={{ email }}', 'running') RETURNING id",
            pool_id,
            "Hi {{ name }}, " + "x" * 400,
        )
        await conn.copy_records_to_table(
            "send_jobs",
            records=[(cid, f"r{i}@good.test", json.dumps({"name": f"r{i}"})) for i in range(messages)],
            columns=["campaign_id", "recipient", "variables"],
        )
        settings = WorkerSettings(
            pool="bench/pool",
            database_url=db_url,
            redis_url=redis_url,
            metrics_port=0,
            batch_size=max(connections * 8, 50),
            lanes=3,
            heartbeat_seconds=5,
            refresh_seconds=60,
            idle_seconds=0.05,
            mailbox_candidates=connections,
        )
        worker = Worker(settings, clock=SystemClock())
        await worker.start()
        worker.stats.pg_round_trips = 0  # count the pipeline, not start-up
        # The resolver would look good.test up in public DNS; the benchmark measures our code, not DNS.
        worker.providers._cache["good.test"] = (float("inf"), "good.test")
        try:
            started = time.perf_counter()
            run = asyncio.create_task(worker.run())
            while True:
                await asyncio.sleep(0.05)
                done = await conn.fetchval("SELECT count(*) FROM send_jobs WHERE state = 'sent'")
                if done >= messages:
                    break
            elapsed = time.perf_counter() - started
            worker.stop()
            await run
        finally:
            await worker.close()
        sent = worker.stats.outcomes.get("sent", 0)
        return {
            "pipeline_msgs_per_s": messages / elapsed,
            "redis_round_trips_per_send": worker.limiter.round_trips / max(sent, 1),
            "pg_round_trips_per_job": worker.stats.pg_round_trips / max(worker.stats.jobs_claimed, 1),
        }
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="bare/pipeline pairs; medians reported")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return
    root = Path(tempfile.mkdtemp(prefix="pot-bench-"))
    root.chmod(0o755)
    postgres, redis_server = Postgres(root), RedisServer(root)
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
    bare_rates: list[float] = []
    runs: list[dict[str, float]] = []
    try:
        postgres.start()
        redis_server.start()
        wait_until(lambda: _greets(port), timeout=20, what="aiosmtpd")
        # Alternating rounds on a shared machine: a burst of load elsewhere hits both sides alike.
        for round_no in range(args.rounds):
            bare_rates.append(asyncio.run(bare(port, args.messages, args.connections)))
            db_url = postgres.url_for(_fresh_database(postgres.url, round_no))
            with redis.Redis.from_url(redis_server.url) as client:
                client.flushall()  # every round starts without limit counters, like the first
            runs.append(
                asyncio.run(pipeline(db_url, redis_server.url, port, args.messages, args.connections))
            )
    finally:
        kill_group(server.pid)
        redis_server.stop()
        postgres.stop()
    bare_rate = statistics.median(bare_rates)
    pipeline_rate = statistics.median(r["pipeline_msgs_per_s"] for r in runs)
    print(f"messages={args.messages}")
    print(f"connections={args.connections}")
    print(f"rounds={args.rounds}")
    print(f"bare_smtp_msgs_per_s={bare_rate:.1f}")
    print(f"pipeline_msgs_per_s={pipeline_rate:.1f}")
    print(f"pipeline_vs_bare_ratio={pipeline_rate / bare_rate:.3f}")
    print(
        f"redis_round_trips_per_send={statistics.median(r['redis_round_trips_per_send'] for r in runs):.3f}"
    )
    print(f"pg_round_trips_per_job={statistics.median(r['pg_round_trips_per_job'] for r in runs):.3f}")


def _fresh_database(url: str, round_no: int) -> str:
    """A new database per round, so every pipeline round starts from the same empty queue."""

    async def create() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"CREATE DATABASE bench_{round_no}")
        finally:
            await conn.close()

    asyncio.run(create())
    return f"bench_{round_no}"


def _greets(port: int) -> bool:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        return conn.recv(64).startswith(b"220")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
