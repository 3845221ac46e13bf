"""SIGTERM (Worker.stop): the message on the wire finishes, nothing else is started, and every job the
worker held goes back to the queue with its attempt and its limits given back (real Postgres, Redis,
and the SMTP sink, whose `slow-*` recipients are answered 0.3 s after DATA)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import redis
from pot_stack.smtp_sink import SmtpSink
from pot_worker.clock import ManualClock
from pot_worker.limits import Keys
from pot_worker.runner import Worker

from .conftest import START, add_campaign, add_jobs, add_mailbox, seed_pool, settings


async def test_stop_finishes_the_sends_in_flight_and_hands_back_the_rest(
    db: asyncpg.Connection, fresh_database: str, fresh_redis: str, sink: SmtpSink
) -> None:
    sink.clear()
    seed = await seed_pool(db)
    mailbox_id = await add_mailbox(db, seed, sink, name="slowbox", tls="none")
    cid = await add_campaign(db, seed)
    await add_jobs(db, cid, [f"slow-{i}@nomx.test" for i in range(40)])
    clock = ManualClock(START)
    worker = Worker(settings(fresh_database, fresh_redis, batch_size=40, lanes=1), clock=clock)
    await worker.start()
    try:
        run = asyncio.create_task(worker.run())
        deadline = time.monotonic() + 10
        while not sink.messages():  # one message accepted: the batch is being sent
            assert time.monotonic() < deadline, "nothing was sent"
            await asyncio.sleep(0.02)
        worker.stop()
        stopped_at = time.monotonic()
        await asyncio.wait_for(run, 10)
        took = time.monotonic() - stopped_at
        epoch = await worker.limiter.epoch()
    finally:
        await worker.close()

    # One slow message (0.3 s) may still have been on the wire; 39 more would take 12 s.
    assert took < 2.0
    states = dict(await db.fetch("SELECT state::text, count(*) FROM send_jobs GROUP BY state"))
    sent = {r["recipient"] for r in await db.fetch("SELECT recipient FROM send_jobs WHERE state = 'sent'")}
    assert sent == {m.rcpt_to for m in sink.messages()}
    assert 1 <= len(sent) < 10
    assert states == {"sent": len(sent), "queued": 40 - len(sent)}
    assert await db.fetchval("SELECT max(attempts) FROM send_jobs WHERE state = 'queued'") == 0
    assert await db.fetchval("SELECT count(*) FROM send_jobs WHERE claimed_by IS NOT NULL") == 0
    assert await db.fetchval("SELECT count(*) FROM delivery_events") == len(sent)
    assert await db.fetchval("SELECT count(*) FROM worker_heartbeats") == 0
    # The handed-back jobs' reservations were released: the mailbox has counted exactly what was sent.
    assert epoch is not None
    with redis.Redis.from_url(fresh_redis) as client:
        counted = client.get(Keys(seed.pool_id).mailbox_day(epoch, mailbox_id, START))
    assert counted is not None and int(counted) == len(sent)
