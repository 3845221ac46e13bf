"""`make bench-history`: the worker's claim with no history and with 10,000,000 historical events, and the
retention sweeper's throughput, on a real Postgres (pot_stack.postgres); prints `name=value` lines.

The claim is the worker's own statement (pot_common.db.query("worker_claim"), as pot_worker.store runs
it, same parameters) over a due backlog of --backlog queued jobs of one running campaign, taken in claims
of --claim-size (the worker's first size) until the backlog is drained, --rounds times; p50 and p99 are
of those claims' round trips. Two databases made alike, one without history and one with it, are
drained in turn (a burst of load elsewhere on the machine hits both alike).

Historical events: --events rows of delivery_events, two per job (a deferral, then the job's final
outcome one hour later), belonging to --events / 2 send jobs in final states (sent 90 %, bounced 4 %,
failed 3 %, unknown 2 %, suppressed 1 %) of --campaigns completed campaigns of the SAME pool as the live
campaign (the worst case for the claim's join), one after another over the 400 to 100 days before
now. The fill uses INSERT ... SELECT generate_series per campaign with the two tables' secondary indexes
dropped, builds them again by applying the schema, and ends with VACUUM ANALYZE, as autovacuum would
leave a live database. The (at) index the sweeper reads is created by the schema, or
here with the same statement when the schema has none yet (`events_at_index=` says which).

Then one sweep (pot_operator.retention.sweep, production batch size and pause) with a retention of
--sweep-days (370: the oldest tenth of the history is past it) and no Campaign object left, so the
old campaigns' jobs go too; `retention_rows_per_s` counts events and jobs deleted per wall second,
pauses included. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
from pot_common.db import apply_schema, query
from pot_operator import retention
from pot_stack.postgres import Postgres

# The statement proposed for the shared schema; applied here only when the schema lacks the index.
EVENTS_AT_INDEX = "CREATE INDEX IF NOT EXISTS delivery_events_at ON delivery_events (at)"
HISTORY_DAYS = (400, 100)  # the history spans from 400 to 100 days before now
WORKER_ID = "bench-worker"
# One completed campaign's final jobs: $1 campaign, $2 its start, $3 time between jobs, $4 mailbox ids,
# $5 jobs. Job n's final state by n % 100: 90 sent, 4 bounced, 3 failed, 2 unknown, 1 suppressed.
FILL_JOBS = """
INSERT INTO send_jobs (campaign_id, recipient, state, attempts, next_attempt_at, mailbox_id, reserved_at,
                       message_id, last_code, created_at, updated_at)
SELECT $1::bigint, 'h' || n || '@d' || (n % 500) || '.test',
       (ARRAY['sent', 'bounced', 'failed', 'unknown', 'suppressed'])[
           CASE WHEN n % 100 < 90 THEN 1 WHEN n % 100 < 94 THEN 2 WHEN n % 100 < 97 THEN 3
                WHEN n % 100 < 99 THEN 4 ELSE 5 END]::job_state,
       2, t, ($4::bigint[])[1 + n % cardinality($4::bigint[])], t + interval '1 hour',
       '<' || $1::bigint || '.' || n || '@sender.test>', 250, t, t + interval '1 hour'
FROM generate_series(0, $5 - 1) AS n
CROSS JOIN LATERAL (SELECT $2::timestamptz + n * $3::interval AS t) AS times
"""
# Their events: a deferral when the job was made, its final outcome an hour later. $1 campaign.
FILL_EVENTS = """
INSERT INTO delivery_events (job_id, attempt, campaign_id, mailbox_id, recipient, outcome, smtp_code, reply,
                             at)
SELECT j.id, a, j.campaign_id, j.mailbox_id, j.recipient,
       CASE WHEN a = 0 THEN 'deferred' ELSE j.state::text END,
       CASE WHEN a = 0 THEN 451 ELSE 250 END, 'historical reply text',
       j.created_at + a * interval '1 hour'
FROM send_jobs j CROSS JOIN generate_series(0, 1) AS a
WHERE j.campaign_id = $1
"""
OLD_CAMPAIGN = """
INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template, state, updated_at,
                       uid)
VALUES ($1, 'bench', $2, 'bench', 's', 't', 'completed', $3, $2) RETURNING id
"""
# The indexes of the two filled tables that no constraint owns: the schema makes each of them again.
SECONDARY_INDEXES = """
SELECT i.relname AS name
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid IN ('send_jobs'::regclass, 'delivery_events'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
"""
RESET_BACKLOG = (
    "UPDATE send_jobs SET state = 'queued', claimed_by = NULL, lease_until = NULL WHERE campaign_id = $1"
)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def setup(conn: asyncpg.Connection, backlog: int, mailboxes: int) -> tuple[int, int, list[int]]:
    """The pool, its mailboxes and the live campaign with `backlog` due jobs.

    Returns (pool id, live campaign id, mailbox ids)."""
    await apply_schema(conn)
    pool_id = int(
        await conn.fetchval("INSERT INTO pools (namespace, name) VALUES ('bench', 'p') RETURNING id")
    )
    mailbox_ids = [
        int(
            await conn.fetchval(
                "INSERT INTO mailboxes (pool_id, namespace, name, address, smtp_host, smtp_port)"
                " VALUES ($1, 'bench', $2, $3, '127.0.0.1', 25) RETURNING id",
                pool_id,
                f"mb{i}",
                f"mb{i}@sender.test",
            )
        )
        for i in range(mailboxes)
    ]
    live = int(
        await conn.fetchval(
            "INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template, state)"
            " VALUES ($1, 'bench', 'live', 'bench', 's', 't', 'running') RETURNING id",
            pool_id,
        )
    )
    await conn.execute(
        "INSERT INTO send_jobs (campaign_id, recipient, next_attempt_at)"
        " SELECT $1, 'live' || n || '@d' || (n % 20) || '.test', now() - interval '1 minute'"
        " FROM generate_series(1, $2) AS n",
        live,
        backlog,
    )
    return pool_id, live, mailbox_ids


async def index_state(conn: asyncpg.Connection) -> str:
    present = await conn.fetchval("SELECT count(*) FROM pg_indexes WHERE indexname = 'delivery_events_at'")
    if present:
        return "in_schema"
    await conn.execute(EVENTS_AT_INDEX)
    return "added_by_bench"


@dataclasses.dataclass
class Subject:
    """One database the claim is measured on."""

    conn: asyncpg.Connection
    pool_id: int
    live: int
    mailbox_ids: list[int]


async def drain(subject: Subject, size: int, sql: str) -> list[float]:
    """Claim round trips (ms) taking the whole backlog once, after putting it back (and vacuuming, so
    every drain starts from the same table)."""
    conn = subject.conn
    await conn.execute(RESET_BACKLOG, subject.live)
    await conn.execute("VACUUM send_jobs")
    samples: list[float] = []
    while True:
        now = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        rows = await conn.fetch(
            sql, subject.pool_id, WORKER_ID, now, now + dt.timedelta(seconds=60), size, [], []
        )
        if not rows:  # drained: the empty claim is not one of the backlog's
            return samples
        samples.append((time.perf_counter() - started) * 1000)


Samples = dict[str, tuple[list[float], list[float]]]


async def compare(a: Subject, b: Subject, rounds: int, size: int, claims: dict[str, str]) -> Samples:
    """Per claim statement, drains of `a` and `b`, every statement and database in turn each round:
    load from elsewhere on a shared machine hits them all alike."""
    samples: Samples = {name: ([], []) for name in claims}
    for _ in range(rounds):
        for name, sql in claims.items():
            samples[name][0].extend(await drain(a, size, sql))
            samples[name][1].extend(await drain(b, size, sql))
    return samples


async def fill(url: str, subject: Subject, events: int, campaigns: int, connections: int) -> float:
    """`events` historical delivery events (two per final job) of `campaigns` completed campaigns, filled
    over `connections` sessions side by side.

    The two tables' secondary indexes are dropped first and built again by applying the schema at the
    end (a bulk build is many times faster than growing them row by row); the tables end up as the
    schema makes them."""
    jobs_per_campaign = events // 2 // campaigns
    oldest, newest = HISTORY_DAYS
    span = dt.timedelta(days=(oldest - newest) / campaigns)
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    conn = subject.conn
    for row in await conn.fetch(SECONDARY_INDEXES):
        await conn.execute(f'DROP INDEX "{row["name"]}"')
    done = 0

    async def one(share: int) -> None:
        nonlocal done
        session = await asyncpg.connect(url, command_timeout=3600)
        try:
            for k in range(share, campaigns, connections):
                begin = now - dt.timedelta(days=oldest) + k * span
                step = span / jobs_per_campaign
                cid = int(await session.fetchval(OLD_CAMPAIGN, subject.pool_id, f"old-{k}", begin + span))
                await session.execute(FILL_JOBS, cid, begin, step, subject.mailbox_ids, jobs_per_campaign)
                await session.execute(FILL_EVENTS, cid)
                done += 1
                if done % max(1, campaigns // 20) == 0 or done == campaigns:
                    rows = done * jobs_per_campaign * 2
                    elapsed = time.perf_counter() - started
                    log(f"filling: events={rows} jobs={rows // 2} campaigns={done} elapsed={elapsed:.0f}s")
        finally:
            await session.close()

    await asyncio.gather(*(one(share) for share in range(connections)))
    log("filling: building the indexes (the schema, applied again)")
    await conn.execute("SET maintenance_work_mem = '512MB'")
    await apply_schema(conn)
    await conn.execute(EVENTS_AT_INDEX)  # none when the schema has it; else as index_state found it
    log(f"filling: VACUUM ANALYZE elapsed={time.perf_counter() - started:.0f}s")
    await conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def subject(url: str, args: argparse.Namespace) -> Subject:
    conn = await asyncpg.connect(url, command_timeout=3600)
    pool_id, live, mailbox_ids = await setup(conn, args.backlog, args.mailboxes)
    return Subject(conn, pool_id, live, mailbox_ids)


async def run(empty_url: str, history_url: str, args: argparse.Namespace) -> dict[str, str]:
    out: dict[str, str] = {}
    # The worker's own claim, and a candidate replacement measured beside it (--claim-sql).
    claims = {"": query("worker_claim")}
    if args.claim_sql:
        claims["_candidate"] = args.claim_sql.read_text()
        out["claim_sql_candidate"] = str(args.claim_sql)
    empty, history = await subject(empty_url, args), await subject(history_url, args)
    try:
        out["events_at_index"] = await index_state(history.conn)
        await index_state(empty.conn)
        fill_seconds = await fill(history_url, history, args.events, args.campaigns, args.fill_connections)
        await empty.conn.execute("VACUUM ANALYZE")
        conn = history.conn
        events = int(await conn.fetchval("SELECT count(*) FROM delivery_events"))
        jobs = int(
            await conn.fetchval("SELECT count(*) FROM send_jobs WHERE campaign_id <> $1", history.live)
        )
        size_mib = int(await conn.fetchval("SELECT pg_database_size(current_database())")) / 2**20
        log(
            f"measuring claims: no history and {events} historical events, {args.rounds} drains each, in turn"
        )
        before = await compare(empty, history, args.rounds, args.claim_size, claims)
        log(f"sweeping: retention {args.sweep_days} days")
        pool = await asyncpg.create_pool(history_url, min_size=1, max_size=1, command_timeout=3600)
        try:
            swept = await retention.sweep(
                pool, dt.datetime.now(dt.UTC), args.sweep_days, retention.LiveCampaigns([], [], [])
            )
        finally:
            await pool.close()
        log("measuring claims: no history and after the sweep, in turn")
        after = await compare(empty, history, args.rounds, args.claim_size, claims)
    finally:
        await empty.conn.close()
        await history.conn.close()
    out |= {
        "backlog_jobs": str(args.backlog),
        "claim_size": str(args.claim_size),
        "claims_measured_each": str(len(before[""][0])),
        "history_events": str(events),
        "history_jobs": str(jobs),
        "history_campaigns": str(args.campaigns),
        "fill_seconds": f"{fill_seconds:.0f}",
        "database_mib_10m": f"{size_mib:.0f}",
    }
    for name, (on_empty, on_full) in before.items():
        p50_empty, p50_full = statistics.median(on_empty), statistics.median(on_full)
        again, swept_full = after[name]
        out |= {
            f"claim_p50_ms_empty{name}": f"{p50_empty:.2f}",
            f"claim_p99_ms_empty{name}": f"{percentile(on_empty, 0.99):.2f}",
            f"claim_p50_ms_10m{name}": f"{p50_full:.2f}",
            f"claim_p99_ms_10m{name}": f"{percentile(on_full, 0.99):.2f}",
            f"ratio{name}": f"{p50_full / p50_empty:.2f}",
            f"claim_p50_ms_after_sweep{name}": f"{statistics.median(swept_full):.2f}",
            f"ratio_after_sweep{name}": f"{statistics.median(swept_full) / statistics.median(again):.2f}",
        }
    out |= {
        "retention_days": str(args.sweep_days),
        "retention_events_deleted": str(swept.events),
        "retention_jobs_deleted": str(swept.jobs),
        "retention_batches": str(swept.batches),
        "retention_seconds": f"{swept.seconds:.1f}",
        "retention_rows_per_s": f"{(swept.events + swept.jobs) / swept.seconds:.0f}",
    }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python bench/claims_history.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="historical delivery events")
    parser.add_argument("--campaigns", type=int, default=100, help="completed campaigns they belong to")
    parser.add_argument("--backlog", type=int, default=1000, help="due queued jobs of the live campaign")
    parser.add_argument("--claim-size", type=int, default=50, help="jobs per claim (the worker's first size)")
    parser.add_argument("--rounds", type=int, default=10, help="times the backlog is drained per measurement")
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument(
        "--claim-sql",
        type=Path,
        help="measure this claim statement (same parameters) instead of the worker's",
    )
    parser.add_argument("--fill-connections", type=int, default=2, help="sessions filling side by side")
    parser.add_argument("--sweep-days", type=int, default=370, help="the retention of the measured sweep")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="pot-bench-history-"))
    root.chmod(0o755)
    postgres = Postgres(root)
    try:
        postgres.start()
        asyncio.run(_create(postgres.url))
        out = asyncio.run(run(postgres.url_for("empty"), postgres.url_for("history"), args))
    finally:
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
    for name, value in out.items():
        print(f"{name}={value}")


async def _create(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE DATABASE empty")
        await conn.execute("CREATE DATABASE history")
    finally:
        await conn.close()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
