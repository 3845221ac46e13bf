"""The three-level limit script against a real Redis, and recovery from a Redis restart (limits.py)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import asyncpg
import pytest
import redis.asyncio as aioredis
from pot_stack.smtp_sink import SmtpSink
from pot_worker.clock import ManualClock
from pot_worker.limits import (
    Limiter,
    MailboxLimits,
    ReconcileNeeded,
    Refusal,
    Reservation,
    ReservationRequest,
)
from pot_worker.runner import Worker
from prometheus_client import REGISTRY

from .conftest import START, add_campaign, add_jobs, add_mailbox, drain, seed_pool, settings


@pytest.fixture
async def limiter(fresh_redis: str):  # type: ignore[no-untyped-def]
    client = aioredis.from_url(fresh_redis)
    lim = Limiter(client, pool_id=1)
    await client.set(lim.keys.epoch, "e1")
    yield lim
    await client.aclose()


def box(mid: int, daily: int = 100, hourly: int = 100, spacing: int = 0) -> MailboxLimits:
    return MailboxLimits(mid, daily, hourly, spacing)


async def reserve(
    lim: Limiter,
    candidates: list[MailboxLimits],
    *,
    cd: int | None = None,
    ch: int | None = None,
    dh: int | None = None,
    domain: str = "good.test",
    now=START,
):  # type: ignore[no-untyped-def]
    return await lim.reserve(
        campaign_id=1,
        campaign_daily=cd,
        campaign_hourly=ch,
        domain=domain,
        domain_hourly=dh,
        candidates=candidates,
        now=now,
    )


async def counters(lim: Limiter, now=START, epoch: str | None = None) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The counters of the current epoch (or of `epoch`)."""
    k = lim.keys
    e = epoch or await lim.epoch() or ""
    names = {
        "c_day": k.campaign_day(e, 1, now),
        "c_hour": k.campaign_hour(e, 1, now),
        "dom": k.domain_hour(e, "good.test", now),
        "mb1_day": k.mailbox_day(e, 1, now),
        "mb1_hour": k.mailbox_hour(e, 1, now),
        "mb2_day": k.mailbox_day(e, 2, now),
    }
    return {n: int(await lim.client.get(key) or 0) for n, key in names.items()}


@pytest.mark.parametrize(
    ("kwargs", "level"),
    [({"cd": 1}, "campaign"), ({"ch": 1}, "campaign"), ({"dh": 1}, "domain")],
)
async def test_each_level_refuses_by_name_and_nothing_is_counted(limiter: Limiter, kwargs, level) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(await reserve(limiter, [box(1)], **kwargs), Reservation)
    before = await counters(limiter)
    refused = await reserve(limiter, [box(1)], **kwargs)
    assert isinstance(refused, Refusal) and refused.level == level
    assert await counters(limiter) == before  # all or nothing


async def test_inbox_caps_and_rotation_to_the_next_mailbox(limiter: Limiter) -> None:
    boxes = [box(1, daily=2, hourly=1), box(2, daily=5, hourly=5)]
    first = await reserve(limiter, boxes)
    second = await reserve(limiter, boxes)  # mailbox 1 is at its hourly cap: the script takes mailbox 2
    assert isinstance(first, Reservation) and isinstance(second, Reservation)
    assert (first.mailbox_id, second.mailbox_id) == (1, 2)
    refused = await reserve(limiter, [box(1, daily=2, hourly=1)])
    assert isinstance(refused, Refusal) and refused.level == "inbox"
    next_hour = START + timedelta(hours=1)
    assert isinstance(await reserve(limiter, [box(1, daily=2, hourly=1)], now=next_hour), Reservation)
    refused = await reserve(limiter, [box(1, daily=2, hourly=1)], now=next_hour + timedelta(hours=1))
    assert isinstance(refused, Refusal) and refused.level == "inbox"  # the daily cap of 2 is reached


async def test_min_spacing_between_reservations(limiter: Limiter) -> None:
    spaced = [box(1, spacing=60)]
    assert isinstance(await reserve(limiter, spaced), Reservation)
    refused = await reserve(limiter, spaced, now=START + timedelta(seconds=30))
    assert isinstance(refused, Refusal) and refused.level == "inbox"
    assert refused.retry_at == START + timedelta(seconds=60)
    assert isinstance(await reserve(limiter, spaced, now=START + timedelta(seconds=60)), Reservation)


async def test_release_gives_every_level_back_but_not_across_epochs(limiter: Limiter) -> None:
    granted = await reserve(limiter, [box(1)], cd=5, ch=5, dh=5)
    assert isinstance(granted, Reservation) and granted.epoch == "e1"
    assert (await counters(limiter))["c_day"] == 1
    await limiter.release_many([granted])
    assert set((await counters(limiter)).values()) == {0}
    again = await reserve(limiter, [box(1)])
    assert isinstance(again, Reservation)
    await limiter.client.set(
        limiter.keys.epoch, "e2"
    )  # counters were rebuilt since: releasing would undercount
    await limiter.release_many([again])
    assert (await counters(limiter, epoch="e1"))["mb1_day"] == 1


async def test_missing_epoch_refuses_until_reconciled(limiter: Limiter) -> None:
    await limiter.client.delete(limiter.keys.epoch)
    with pytest.raises(ReconcileNeeded):
        await reserve(limiter, [box(1)])

    async def rows():  # type: ignore[no-untyped-def]
        return [
            ("mailbox", "1", 3, 1, START),
            ("campaign", "1", 4, 2, START),
            ("domain", "good.test", 2, 2, START),
        ]

    assert await limiter.try_reconcile(rows, START)
    assert not await limiter.try_reconcile(rows, START)  # the epoch exists again: nobody rebuilds twice
    counted = await counters(limiter)
    assert (counted["mb1_day"], counted["mb1_hour"], counted["c_day"], counted["c_hour"], counted["dom"]) == (
        3,
        1,
        4,
        2,
        2,
    )
    refused = await reserve(limiter, [box(1)], dh=2)
    assert isinstance(refused, Refusal) and refused.level == "domain"


async def test_one_batch_call_reserves_each_job_in_order_all_or_nothing(limiter: Limiter) -> None:
    spaced = (box(1, spacing=60), box(2, spacing=60))
    requests = [
        ReservationRequest(1, 3, None, "good.test", None, spaced, START),
        ReservationRequest(1, 3, None, "other.test", 1, spaced, START),
        ReservationRequest(1, 3, None, "other.test", 1, spaced, START),  # other.test's hour is full
        ReservationRequest(1, 3, None, "good.test", None, spaced, START),  # both mailboxes spaced out
        ReservationRequest(2, None, None, "good.test", None, (box(3),), START),
        ReservationRequest(1, 3, None, "good.test", None, (box(3),), START),  # campaign 1's third
        ReservationRequest(1, 3, None, "good.test", None, (box(3),), START),  # campaign 1's day is full
    ]
    outcomes = await limiter.reserve_batch(requests)
    kinds = [o.mailbox_id if isinstance(o, Reservation) else getattr(o, "level", "?") for o in outcomes]
    assert kinds == [1, 2, "domain", "inbox", 3, 3, "campaign"]
    assert limiter.round_trips == 2  # one call, plus learning the epoch once
    counted = await counters(limiter)
    assert (counted["c_day"], counted["mb1_day"], counted["mb2_day"]) == (3, 1, 1)  # refusals counted nothing


async def test_invalidate_rebuilds_from_postgres_alone(limiter: Limiter) -> None:
    for _ in range(3):
        assert isinstance(await reserve(limiter, [box(1)], cd=5), Reservation)
    await limiter.invalidate()  # say two of the three were never written to Postgres (a dead worker)

    async def rows():  # type: ignore[no-untyped-def]
        return [
            ("mailbox", "1", 1, 1, START),
            ("campaign", "1", 1, 1, START),
            ("domain", "good.test", 1, 1, START),
        ]

    with pytest.raises(ReconcileNeeded):
        await reserve(limiter, [box(1)], cd=5)
    assert await limiter.try_reconcile(rows, START)
    counted = await counters(limiter)
    assert (counted["c_day"], counted["mb1_day"], counted["dom"]) == (1, 1, 1)  # not 3 + 1
    for _ in range(4):
        assert isinstance(await reserve(limiter, [box(1)], cd=5), Reservation)
    refused = await reserve(limiter, [box(1)], cd=5)
    assert isinstance(refused, Refusal) and refused.level == "campaign"


async def test_redis_restart_mid_hour_does_not_overshoot(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    redis_server,
    sink: SmtpSink,  # type: ignore[no-untyped-def]
) -> None:
    sink.clear()
    seed = await seed_pool(db, domain_hourly=1000)
    await add_mailbox(db, seed, sink, name="a", tls="none", daily=8, hourly=6)
    await add_mailbox(db, seed, sink, name="b", tls="none", daily=1000, hourly=1000)
    cid = await add_campaign(db, seed, hourly=10, daily=14)
    await add_jobs(db, cid, [f"r{i}@nomx.test" for i in range(40)])
    clock = ManualClock(START)
    # A fixed claim of 4 (no doubling): exactly 8 are sent before the restart, 2 of the cap's 10 left.
    worker = Worker(settings(fresh_database, fresh_redis, batch_size=4, batch_size_max=4), clock=clock)
    await worker.start()
    try:
        await worker.run_once()
        await worker.run_once()
        assert await db.fetchval("SELECT count(*) FROM send_jobs WHERE state = 'sent'") == 8
        redis_server.restart()  # every counter is gone
        while await worker.run_once():
            pass
        sent_hour1 = await db.fetchval("SELECT count(*) FROM send_jobs WHERE state = 'sent'")
        assert sent_hour1 == 10  # the campaign's hourly cap, not 10 + 10
        clock.advance(3600)
        redis_server.restart()
        while await worker.run_once():
            pass
        await drain(worker, clock, rounds=1)
    finally:
        await worker.close()
    per_mailbox = dict(
        await db.fetch(
            "SELECT m.name, count(*) FROM send_jobs j JOIN mailboxes m ON m.id = j.mailbox_id"
            " WHERE j.state = 'sent' GROUP BY m.name"
        )
    )
    assert await db.fetchval("SELECT count(*) FROM send_jobs WHERE state = 'sent'") == 14  # the daily cap
    assert per_mailbox.get("a", 0) <= 8
    assert len(sink.messages()) == 14


async def test_a_crashed_workers_reservations_come_back_with_its_claims(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    sink: SmtpSink,
) -> None:
    """A worker killed between reserving and marking `sending` leaves counted reservations in Redis that
    nothing will release. When its claims are reaped the counters are rebuilt from Postgres, so the day's
    capacity is not lost (the fleet test's campaign stuck at its daily cap with mail unsent)."""
    sink.clear()
    seed = await seed_pool(db)
    await add_mailbox(db, seed, sink, name="a", tls="none")
    cid = await add_campaign(db, seed, daily=10)
    await add_jobs(db, cid, [f"r{i}@nomx.test" for i in range(15)])
    clock = ManualClock(START)
    doomed = Worker(settings(fresh_database, fresh_redis, batch_size=5, lease_seconds=60), clock=clock)
    survivor = Worker(settings(fresh_database, fresh_redis, batch_size=5, lease_seconds=60), clock=clock)
    await doomed.start()
    await survivor.start()
    try:
        reserved = asyncio.Event()

        async def hang(*_args: object) -> object:
            reserved.set()  # five reservations are counted in Redis by now
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        doomed._mark_sending = hang  # type: ignore[method-assign]
        crashing = asyncio.create_task(doomed.run_once())
        await asyncio.wait_for(reserved.wait(), 10)
        crashing.cancel()  # like kill -9 at that moment: no release, no result write
        with contextlib.suppress(asyncio.CancelledError):
            await crashing
        assert await db.fetchval("SELECT count(*) FROM send_jobs WHERE state = 'claimed'") == 5

        clock.advance(61)  # the dead worker's lease ends
        await survivor.heartbeat()  # reaps its claims
        for _ in range(10):
            while await survivor.run_once():
                pass
            clock.advance(1)
    finally:
        await doomed.close()
        await survivor.close()
    states = dict(await db.fetch("SELECT state::text, count(*) FROM send_jobs GROUP BY 1"))
    assert states == {"sent": 10, "queued": 5}  # the full daily cap, the rest due tomorrow
    assert len(sink.messages()) == 10


async def test_a_campaign_at_its_cap_is_left_in_the_queue_not_claimed_and_refused(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    sink: SmtpSink,
) -> None:
    sink.clear()
    seed = await seed_pool(db)
    await add_mailbox(db, seed, sink, name="a", tls="none")
    capped = await add_campaign(db, seed, name="capped", hourly=5)
    await add_jobs(db, capped, [f"c{i}@nomx.test" for i in range(30)])
    clock = ManualClock(START)
    worker = Worker(settings(fresh_database, fresh_redis, batch_size=10), clock=clock)
    await worker.start()
    try:
        assert await worker.run_once() == 10  # 5 sent, 5 refused: the campaign's hour is full
        claims_before = worker.stats.jobs_claimed
        assert await worker.run_once() == 0  # the other 20 are not claimed just to be refused
        assert worker.stats.jobs_claimed == claims_before
        untouched = await db.fetchval(
            "SELECT count(*) FROM send_jobs WHERE state = 'queued' AND next_attempt_at = $1", START
        )
        assert untouched == 20
        clock.set(START.replace(minute=0) + timedelta(hours=1))  # the next hour: the campaign has room
        while await worker.run_once():
            pass
    finally:
        await worker.close()
    assert await db.fetchval("SELECT count(*) FROM send_jobs WHERE state = 'sent'") == 10
    assert len(sink.messages()) == 10


async def test_the_claim_grows_while_limits_grant_everything_and_shrinks_when_they_refuse(
    db: asyncpg.Connection, fresh_database: str, fresh_redis: str, sink: SmtpSink
) -> None:
    sink.clear()
    seed = await seed_pool(db)
    await add_mailbox(db, seed, sink, name="a", tls="none", hourly=100, daily=100)
    cid = await add_campaign(db, seed)
    await add_jobs(db, cid, [f"r{i}@nomx.test" for i in range(200)])
    clock = ManualClock(START)
    worker = Worker(settings(fresh_database, fresh_redis, batch_size=10, batch_size_max=40), clock=clock)
    await worker.start()
    try:
        sizes = [worker.claim_size]
        for _ in range(4):
            await worker.run_once()
            sizes.append(worker.claim_size)
        assert sizes == [10, 20, 40, 40, 40]  # 10 + 20 + 40 + 40 = 110 claimed, 100 granted
        await worker.run_once()  # the mailbox's hourly cap refuses most of the next 40
        assert worker.claim_size == 20
        assert REGISTRY.get_sample_value("pot_claim_size", {"pool": "acme/outreach"}) == 20
    finally:
        await worker.close()
    assert await db.fetchval("SELECT count(*) FROM send_jobs WHERE state = 'sent'") == 100
