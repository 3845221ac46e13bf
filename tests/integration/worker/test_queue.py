"""The claim query at the size of a real backlog: it reads one batch, not every due job (worker_claim.sql)."""

from __future__ import annotations

import asyncpg
from pot_common.db import query

from .conftest import START, add_campaign, add_jobs, seed_pool


async def test_the_claim_walks_the_due_index_instead_of_sorting_the_backlog(db: asyncpg.Connection) -> None:
    seed = await seed_pool(db)
    for name in ("a", "b", "c"):
        cid = await add_campaign(db, seed, name=name)
        await add_jobs(db, cid, [f"r{i}@d{i % 40}.test" for i in range(20_000)])
    await db.execute("ANALYZE send_jobs")
    plan = "\n".join(
        r[0]
        for r in await db.fetch(
            "EXPLAIN (ANALYZE, COSTS OFF) " + query("worker_claim"),
            seed.pool_id,
            "w1",
            START,
            START,
            64,
            [],
            [],
        )
    )
    assert await db.fetchval("SELECT count(*) FROM send_jobs WHERE state = 'claimed'") == 64
    assert "send_jobs_due_at" in plan, plan
    assert "Sort" not in plan, plan  # sorting 60,000 due jobs per claim took 23 ms, growing with them
