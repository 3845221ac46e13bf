"""Real `pot-worker` processes against real Postgres, Redis and the SMTP sink: caps, crashes, restarts.

Workers share a scaled clock (POT_CLOCK_SPEED, POT_CLOCK_ORIGIN) so hours of rate-limit windows pass in
seconds; every invariant is checked from Postgres and from what the sink actually stored.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pot_stack.smtp_sink import SmtpSink

from .conftest import Seed, add_campaign, add_jobs, add_mailbox, seed_pool
from .fleet import FINAL, Fleet, delivered, limit_report, spacing_violations, wait_final

pytestmark = pytest.mark.slow

SPEED = 1440.0  # one clock hour = 2.5 real seconds, a day = 60


def fleet_env(db_url: str, redis_url: str, origin: float, **extra: str) -> dict[str, str]:
    return {
        "POT_POOL": "acme/outreach",
        "POT_DATABASE_URL": db_url,
        "POT_REDIS_URL": redis_url,
        "POT_METRICS_PORT": "0",
        "POT_CLOCK_SPEED": str(SPEED),
        "POT_CLOCK_ORIGIN": str(origin),
        "POT_BATCH_SIZE": "40",
        "POT_LANES": "2",
        "POT_HEARTBEAT_SECONDS": "1",
        "POT_REFRESH_SECONDS": "2",
        "POT_IDLE_SECONDS": "0.2",
        "POT_LEASE_SECONDS": str(6 * SPEED),  # 6 real seconds
        "POT_MAX_ATTEMPTS": "2",
        "POT_RETRY_BASE_SECONDS": "600",
        "POT_RETRY_CAP_SECONDS": "1200",
        "POT_BREAKER_THRESHOLD": "1000",
        "POT_SMTP_TIMEOUT_SECONDS": "5",
        "POT_DRAIN_SECONDS": "5",
        **extra,
    }


# Recipients spread over many domains, as real lists are, so the per-domain cap binds only where a
# domain is hot; names under good.test get NXDOMAIN from the test DNS (the provider is the domain).
DOMAINS = [f"d{i}.good.test" for i in range(40)]
HOT = "hot.good.test"


def recipients(n: int, rng: random.Random, prefix: str, domains: list[str] = DOMAINS) -> list[str]:
    kinds = ["ok"] * 90 + ["bounce"] * 3 + ["defer"] * 3 + ["spam"] * 2 + ["full"] * 1 + ["drop"] * 1
    return [f"{rng.choice(kinds)}-{prefix}{i}@{domains[i % len(domains)]}" for i in range(n)]


async def seed_tight(
    db: asyncpg.Connection,
    sink: SmtpSink,
    jobs: int,
    *,
    mailboxes: int,
    mb_hourly: int,
    spacing: int,
    domain_hourly: int,
    hot: int,
    north: int,
    north_hourly: int,
) -> Seed:
    """Caps chosen so every level is the one refusing somewhere during the run, yet all jobs finish soon.

    Older jobs are claimed first, so each tight cap meets a burst it cannot absorb: campaign "tiny"
    (300 jobs, 150 a day) fills at least one whole day and finishes by the third (its first day is
    two clock hours long; a refused job returns behind the older backlog); `hot` jobs to one domain
    meet the pool's per-domain hourly cap; campaign "north" meets its hourly cap; mailbox "small"
    (3 an hour, 5 a day) fills its hour and its day; every mailbox keeps a minimum spacing. The bulk
    ("south") is spread over 40 domains, carries every reply rule of the sink, and is bounded by
    throughput, not by a cap. The bursts are all accepted mail: nothing reserved is released, so a
    bucket that met its cap ends exactly at it, however loaded the machine is.
    """
    seed = await seed_pool(db, domain_hourly=domain_hourly)
    await add_mailbox(db, seed, sink, name="small", tls="none", daily=5, hourly=3, spacing=spacing)
    for i in range(mailboxes - 1):
        await add_mailbox(
            db, seed, sink, name=f"mb{i:03d}", tls="none", daily=1000, hourly=mb_hourly, spacing=spacing
        )
    rng = random.Random(4)
    due = datetime(2000, 1, 1, tzinfo=UTC)
    tiny = await add_campaign(db, seed, name="tiny", daily=150)
    await add_jobs(db, tiny, [f"ok-t{i}@{DOMAINS[i % len(DOMAINS)]}" for i in range(300)], due=due)
    south = await add_campaign(db, seed, name="south")
    await add_jobs(db, south, [f"ok-h{i}@{HOT}" for i in range(hot)], due=due + timedelta(seconds=1))
    north_id = await add_campaign(db, seed, name="north", hourly=north_hourly)
    north_rcpts = [f"ok-n{i}@{DOMAINS[i % len(DOMAINS)]}" for i in range(north)]
    await add_jobs(db, north_id, north_rcpts, due=due + timedelta(seconds=2))
    # The bulk comes due once the fleet is up and the bursts above have met their caps.
    bulk_due = CLOCK_START + timedelta(hours=4)
    await add_jobs(db, south, recipients(jobs - 300 - hot - north, rng, "s"), due=bulk_due)
    return seed


# Two clock hours before a UTC midnight, so the run crosses into a new day early on.
CLOCK_START = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)


async def check_invariants(db: asyncpg.Connection, sink: SmtpSink, total: int) -> dict[str, Any]:
    states = dict(await db.fetch("SELECT state::text, count(*) FROM send_jobs GROUP BY 1"))
    assert sum(v for k, v in states.items() if k in FINAL) == total, states
    report = await limit_report(db)
    assert {level: over for level, (over, _) in report.items()} == dict.fromkeys(report, 0), report
    assert await spacing_violations(db) == 0
    stored = delivered(sink.maildir)
    duplicates = {job: n for job, n in stored.items() if n > 1}
    assert duplicates == {}
    sent = {r["id"] for r in await db.fetch("SELECT id FROM send_jobs WHERE state = 'sent'")}
    unknown = {r["id"] for r in await db.fetch("SELECT id FROM send_jobs WHERE state = 'unknown'")}
    assert sent <= set(stored)  # every job recorded as sent is in the sink
    assert set(stored) <= sent | unknown  # the sink holds nothing we think was refused or never sent
    return {"states": states, "report": report}


async def test_sixteen_workers_twenty_thousand_jobs_no_overshoot(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    sink: SmtpSink,
    dns_server,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    sink.clear()
    total = 20_000
    await seed_tight(
        db,
        sink,
        total,
        mailboxes=60,
        mb_hourly=80,
        spacing=20,
        domain_hourly=100,
        hot=600,
        north=2000,
        north_hourly=250,
    )
    origin = time.time()
    env = fleet_env(
        fresh_database,
        fresh_redis,
        origin,
        POT_DNS_RESOLVER=dns_server.resolver,
        POT_CLOCK_START=str(CLOCK_START.timestamp()),
    )
    fleet = Fleet.start(16, env, tmp_path)
    try:
        counts = await wait_final(db, total, within=240)
    finally:
        fleet.stop()
    assert sum(v for k, v in counts.items() if k in FINAL) == total, counts
    result = await check_invariants(db, sink, total)
    # The caps were actually reached at every level, so "no overshoot" means something.
    assert all(full > 0 for _, full in result["report"].values()), result["report"]


async def test_kill_nine_and_restarts_lose_nothing_and_send_nothing_twice(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    sink: SmtpSink,
    dns_server,
    postgres,  # type: ignore[no-untyped-def]
    redis_server,
    tmp_path: Path,
) -> None:
    sink.clear()
    total = 6000
    await seed_tight(
        db,
        sink,
        total,
        mailboxes=30,
        mb_hourly=60,
        spacing=20,
        domain_hourly=100,
        hot=300,
        north=1000,
        north_hourly=250,
    )
    origin = time.time()
    env = fleet_env(
        fresh_database,
        fresh_redis,
        origin,
        POT_DNS_RESOLVER=dns_server.resolver,
        POT_CLOCK_START=str(CLOCK_START.timestamp()),
    )
    fleet = Fleet.start(8, env, tmp_path)
    rng = random.Random(11)
    try:
        await asyncio.sleep(6)  # the fleet is up and sending
        for victim in rng.sample(fleet.alive(), 3):
            victim.kill()  # SIGKILL: no drain, claims and 'sending' rows left behind
            fleet.spawn()
        await asyncio.sleep(3)
        redis_server.restart()  # every limit counter is gone
        await asyncio.sleep(3)
        await db.close()
        postgres.restart()  # every connection breaks
        db = await asyncpg.connect(fresh_database)
        await asyncio.sleep(3)
        for victim in rng.sample(fleet.alive(), 2):
            victim.kill()
            fleet.spawn()
        counts = await wait_final(db, total, within=120)
    finally:
        fleet.stop()
    assert sum(v for k, v in counts.items() if k in FINAL) == total, counts
    await check_invariants(db, sink, total)
    await db.close()
