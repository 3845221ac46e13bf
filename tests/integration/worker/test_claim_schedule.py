"""A job claimed after its recipient's sending hours closed goes back to the queue, due at the next
opening in its recipient's zone, instead of being sent (worker_claim.sql brings the campaign's
schedule, pot_worker.planner.schedule_hold decides); against real Postgres, Redis and the sink."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from pot_common.api.campaign import Schedule
from pot_stack.smtp_sink import SmtpSink
from pot_worker.clock import ManualClock
from pot_worker.config import WorkerSettings
from pot_worker.planner import PAST_END_HOLD, schedule_hold
from pot_worker.runner import Worker

from .conftest import add_campaign, add_jobs, add_mailbox, seed_pool, settings

# Monday 2 March 2026, 17:05 UTC: five minutes after 09:00-17:00 closed in UTC; 12:05 in New York
# (EST, before its DST change on 8 March); 02:05 on Tuesday in Tokyo.
AFTER_CLOSE = datetime(2026, 3, 2, 17, 5, tzinfo=UTC)
DUE_BEFORE_CLOSE = datetime(2026, 3, 2, 16, 59, tzinfo=UTC)
NINE_TO_FIVE = {"timeZone": "UTC", "sendFrom": "09:00", "sendUntil": "17:00"}
BERLIN_NINE_TO_FIVE = Schedule.model_validate(
    {"timeZone": "Europe/Berlin", "sendFrom": "09:00", "sendUntil": "17:00", "days": ["Mon", "Tue"]}
)


def test_no_schedule_and_open_hours_hold_nothing() -> None:
    now = datetime(2026, 3, 2, 10, tzinfo=UTC)  # Monday 11:00 in Berlin
    assert schedule_hold(None, {}, now) is None
    assert schedule_hold(BERLIN_NINE_TO_FIVE, {}, now) is None
    assert schedule_hold(Schedule(), {"timezone": "Asia/Tokyo"}, now) is None


def test_closed_hours_wait_for_the_recipients_own_opening_across_dst() -> None:
    # Monday 30 March 2026, 16:30 UTC: 18:30 in Berlin (CEST since Sunday), closed until Tuesday 07:00 UTC.
    now = datetime(2026, 3, 30, 16, 30, tzinfo=UTC)
    assert schedule_hold(BERLIN_NINE_TO_FIVE, {}, now) == datetime(2026, 3, 31, 7, 0, tzinfo=UTC)
    # The week before (CET) the same local opening is 08:00 UTC.
    assert schedule_hold(BERLIN_NINE_TO_FIVE, {}, now - timedelta(days=7)) == datetime(
        2026, 3, 24, 8, 0, tzinfo=UTC
    )
    # A recipient in New York (12:30 EDT): open. One whose cell is no zone follows Berlin.
    assert schedule_hold(BERLIN_NINE_TO_FIVE, {"timezone": "America/New_York"}, now) is None
    assert schedule_hold(BERLIN_NINE_TO_FIVE, {"timezone": "Nowhere/Else"}, now) is not None
    # Tuesday after hours: the next allowed day is the next Monday.
    tuesday_evening = datetime(2026, 3, 31, 18, tzinfo=UTC)
    assert schedule_hold(BERLIN_NINE_TO_FIVE, {}, tuesday_evening) == datetime(2026, 4, 6, 7, 0, tzinfo=UTC)


def test_start_and_end() -> None:
    now = datetime(2026, 3, 2, 10, tzinfo=UTC)
    later = Schedule.model_validate({"start": "2026-03-05T08:00:00Z"})
    assert schedule_hold(later, {}, now) == datetime(2026, 3, 5, 8, tzinfo=UTC)
    ended = Schedule.model_validate({"end": "2026-03-02T09:00:00Z"})
    assert schedule_hold(ended, {}, now) == now + PAST_END_HOLD
    # The next opening lies past the end: nothing more goes out either.
    closing = Schedule.model_validate({**BERLIN_NINE_TO_FIVE.model_dump(), "end": "2026-03-02T18:00:00Z"})
    assert (
        schedule_hold(closing, {}, datetime(2026, 3, 2, 17, tzinfo=UTC))
        == datetime(2026, 3, 2, 18, tzinfo=UTC) + timedelta(hours=-1) + PAST_END_HOLD
    )


async def run_until_idle(worker_settings: WorkerSettings, at: datetime) -> None:
    """One worker, its clock stopped at `at`, sends batches until nothing it may claim is left."""
    worker = Worker(worker_settings, clock=ManualClock(at))
    await worker.start()
    try:
        while await worker.run_once():
            pass
    finally:
        await worker.close()


async def with_schedule(db: asyncpg.Connection, campaign_id: int, schedule: dict[str, Any] | None) -> None:
    """The campaign row as the operator writes it: its spec.schedule as JSON in campaigns.schedule."""
    await db.execute(
        "UPDATE campaigns SET schedule = $2::jsonb WHERE id = $1",
        campaign_id,
        None if schedule is None else json.dumps(schedule),
    )


async def test_jobs_claimed_after_their_window_closed_wait_for_their_recipients_next_opening(
    db: asyncpg.Connection, fresh_database: str, fresh_redis: str, sink: SmtpSink
) -> None:
    sink.clear()
    seed = await seed_pool(db)
    await add_mailbox(db, seed, sink, name="a", tls="none")
    hours = await add_campaign(db, seed, name="hours")
    await with_schedule(db, hours, NINE_TO_FIVE)
    # Due a minute before the close, as the operator left them; claimed five minutes after it.
    for address, zone in (
        ("utc@nomx.test", None),
        ("newyork@nomx.test", "America/New_York"),
        ("tokyo@nomx.test", "Asia/Tokyo"),
        ("nowhere@nomx.test", "Mars/Olympus_Mons"),  # not a zone: the schedule's own (UTC) counts
    ):
        variables = {"first_name": address.split("@")[0], **({"timezone": zone} if zone else {})}
        await add_jobs(db, hours, [address], variables, due=DUE_BEFORE_CLOSE)
    ended = await add_campaign(db, seed, name="ended")
    await with_schedule(db, ended, {"end": "2026-03-02T17:00:00Z"})
    await add_jobs(db, ended, ["late@nomx.test"], due=DUE_BEFORE_CLOSE)
    unscheduled = await add_campaign(db, seed, name="always")
    await with_schedule(db, unscheduled, None)
    await add_jobs(db, unscheduled, ["always@nomx.test"], due=DUE_BEFORE_CLOSE)

    await run_until_idle(settings(fresh_database, fresh_redis), AFTER_CLOSE)

    assert sorted(m.rcpt_to for m in sink.messages()) == ["always@nomx.test", "newyork@nomx.test"]
    rows = {
        r["recipient"]: r
        for r in await db.fetch(
            "SELECT recipient, state::text AS state, attempts, next_attempt_at FROM send_jobs"
        )
    }
    assert rows["newyork@nomx.test"]["state"] == "sent" and rows["always@nomx.test"]["state"] == "sent"
    held = {r: rows[r] for r in ("utc@nomx.test", "tokyo@nomx.test", "nowhere@nomx.test", "late@nomx.test")}
    # Back in the queue unsent, no attempt counted, no delivery event.
    assert {(r["state"], r["attempts"]) for r in held.values()} == {("queued", 0)}
    assert await db.fetchval("SELECT count(*) FROM delivery_events") == 2
    tuesday_nine_utc = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert held["utc@nomx.test"]["next_attempt_at"] == tuesday_nine_utc
    assert held["nowhere@nomx.test"]["next_attempt_at"] == tuesday_nine_utc
    assert held["tokyo@nomx.test"]["next_attempt_at"] == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 09:00 JST
    # Past schedule.end: held until the operator's scan leaves it unsent.
    assert held["late@nomx.test"]["next_attempt_at"] == AFTER_CLOSE + PAST_END_HOLD

    # At the UTC opening the UTC recipients go out; in Tokyo it is 18:00, closed again until Wednesday.
    await run_until_idle(settings(fresh_database, fresh_redis), tuesday_nine_utc + timedelta(seconds=1))
    rows = {
        r["recipient"]: r
        for r in await db.fetch("SELECT recipient, state::text AS state, next_attempt_at FROM send_jobs")
    }
    assert {r for r, row in rows.items() if row["state"] == "sent"} == {
        "always@nomx.test",
        "newyork@nomx.test",
        "utc@nomx.test",
        "nowhere@nomx.test",
    }
    assert rows["tokyo@nomx.test"]["next_attempt_at"] == datetime(2026, 3, 4, 0, 0, tzinfo=UTC)
    assert rows["late@nomx.test"]["state"] == "queued"
