"""The retention sweeper on a real Postgres: what is past the retention goes, in bounded batches, and
what health, campaign counts and suppression read stays."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pot_operator import db as operator_db
from pot_operator import retention
from pot_operator.retention import LiveCampaigns, SweepResult, sweep, sweep_events

# The real time: the health query counts "sent today" by the database's clock.
NOW = dt.datetime.now(dt.UTC)
OLD = NOW - dt.timedelta(days=200)  # past a 90-day retention
RECENT = NOW - dt.timedelta(days=5)  # inside it, and inside a 30-day health window
RETENTION = 90
NO_PAUSE = 0.0


@pytest.fixture
async def database(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await operator_db.connect(fresh_database)  # applies the shared schema, as the operator does
    try:
        yield pool
    finally:
        await pool.close()


async def _pool(db: asyncpg.Pool, namespace: str = "acme") -> int:
    return int(
        await db.fetchval(
            "INSERT INTO pools (namespace, name) VALUES ($1, 'p') ON CONFLICT (namespace, name)"
            " DO UPDATE SET paused = false RETURNING id",
            namespace,
        )
    )


async def _mailbox(db: asyncpg.Pool, pool_id: int) -> int:
    return int(
        await db.fetchval(
            "INSERT INTO mailboxes (pool_id, namespace, name, address, smtp_host, smtp_port)"
            " VALUES ($1, 'acme', 'mb', 'mb@x.test', 'smtp.x.test', 587) RETURNING id",
            pool_id,
        )
    )


async def _campaign(
    db: asyncpg.Pool,
    name: str,
    state: str,
    updated_at: dt.datetime,
    *,
    namespace: str = "acme",
    uid: str | None = None,
) -> int:
    pool_id = await _pool(db, namespace)
    return int(
        await db.fetchval(
            "INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template, state,"
            " updated_at, uid) VALUES ($1, $2, $3, $2, 's', 't', $4, $5, $6) RETURNING id",
            pool_id,
            namespace,
            name,
            state,
            updated_at,
            uid,
        )
    )


async def _job(db: asyncpg.Pool, campaign_id: int, recipient: str, state: str, at: dt.datetime) -> int:
    return int(
        await db.fetchval(
            "INSERT INTO send_jobs (campaign_id, recipient, state, updated_at, created_at)"
            " VALUES ($1, $2, $3, $4, $4) RETURNING id",
            campaign_id,
            recipient,
            state,
            at,
        )
    )


async def _event(
    db: asyncpg.Pool,
    outcome: str,
    at: dt.datetime,
    *,
    job_id: int | None = None,
    campaign_id: int | None = None,
    mailbox_id: int | None = None,
    recipient: str = "r@x.test",
    attempt: int = 0,
) -> None:
    await db.execute(
        "INSERT INTO delivery_events (job_id, attempt, campaign_id, mailbox_id, recipient, outcome, at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        job_id,
        attempt,
        campaign_id,
        mailbox_id,
        recipient,
        outcome,
        at,
    )


def _live(*objects: tuple[str, str, str]) -> LiveCampaigns:
    return LiveCampaigns.from_objects(
        {"metadata": {"namespace": ns, "name": name, "uid": uid}} for ns, name, uid in objects
    )


async def _count(db: asyncpg.Pool, sql: str, *args: object) -> int:
    return int(await db.fetchval(sql, *args))


async def test_old_events_go_recent_ones_and_suppressions_stay(database: asyncpg.Pool) -> None:
    mailbox = await _mailbox(database, await _pool(database))
    for i in range(5):
        await _event(
            database, "sent", OLD + dt.timedelta(minutes=i), mailbox_id=mailbox, recipient=f"o{i}@x.test"
        )
        await _event(
            database, "sent", RECENT + dt.timedelta(minutes=i), mailbox_id=mailbox, recipient=f"n{i}@x.test"
        )
    await database.execute(
        "INSERT INTO suppressions (tenant, address, reason, created_at) VALUES ('acme', 'gone@x.test',"
        " 'hard_bounce', $1), ('acme', 'left@x.test', 'unsubscribe', $1)",
        OLD - dt.timedelta(days=1000),
    )
    await database.execute(
        "INSERT INTO suppression_list_entries (tenant, list_name, address, created_at)"
        " VALUES ('acme', 'dnc', 'dnc@x.test', $1)",
        OLD - dt.timedelta(days=1000),
    )

    result = await sweep(database, NOW, RETENTION, _live(), pause=NO_PAUSE)

    assert result.events == 5
    ats = [r["at"] for r in await database.fetch("SELECT at FROM delivery_events ORDER BY at")]
    assert len(ats) == 5 and min(ats) >= RECENT
    assert await _count(database, "SELECT count(*) FROM suppressions") == 2
    assert await _count(database, "SELECT count(*) FROM suppression_list_entries") == 1


async def test_health_window_counts_are_the_same_after_a_sweep(database: asyncpg.Pool) -> None:
    mailbox = await _mailbox(database, await _pool(database))
    # A 30-day window (the longest a pool may set) with every outcome health reads, and older history.
    window_start = NOW - dt.timedelta(seconds=retention.LONGEST_HEALTH_WINDOW_SECONDS)
    outcomes = ["sent", "sent", "deferred", "bounced", "policy", "late_bounce", "complaint", "failed"]
    for i, outcome in enumerate(outcomes):
        await _event(
            database,
            outcome,
            window_start + dt.timedelta(hours=1 + i),
            mailbox_id=mailbox,
            recipient=f"w{i}@x",
        )
        await _event(database, outcome, OLD + dt.timedelta(hours=i), mailbox_id=mailbox, recipient=f"h{i}@x")
    await _event(database, "sent", NOW - dt.timedelta(minutes=5), mailbox_id=mailbox, recipient="today@x")

    before = await operator_db.window_counts(database, {mailbox: window_start})
    # The shortest retention allowed, which `cutoff` enforces even when asked for less.
    result = await sweep(database, NOW, 1, _live(), pause=NO_PAUSE)
    after = await operator_db.window_counts(database, {mailbox: window_start})

    assert result.events == len(outcomes)
    assert after == before
    assert before[mailbox][0].attempted == 6 + 1 and before[mailbox][0].bounced == 3


async def test_batches_respect_the_limit_and_walk_past_kept_rows(database: asyncpg.Pool) -> None:
    live = await _campaign(database, "live", "running", OLD, uid="u-live")
    job = await _job(database, live, "replied@x.test", "sent", OLD)
    # The oldest rows are a live campaign's counted replies (kept); ten deletable rows come after them.
    for i in range(4):
        await _event(
            database, "reply", OLD + dt.timedelta(seconds=i), job_id=job, campaign_id=live, attempt=i
        )
    for i in range(10):
        await _event(database, "sent", OLD + dt.timedelta(minutes=1 + i), recipient=f"s{i}@x.test")

    one = await database.fetchrow(
        operator_db.sql("retention_events"),
        retention.cutoff(NOW, RETENTION),
        None,
        3,
        list(retention.COUNTED_OUTCOMES),
    )
    assert one["deleted"] == 3  # one statement never deletes more than its batch

    result = SweepResult()
    deleted = await sweep_events(
        database, retention.cutoff(NOW, RETENTION), batch=3, pause=NO_PAUSE, result=result
    )
    assert deleted == 7
    assert result.batches == 3  # 3 + 3 + 1: a short batch ends the pass
    assert await _count(database, "SELECT count(*) FROM delivery_events WHERE outcome = 'reply'") == 4
    assert await _count(database, "SELECT count(*) FROM delivery_events") == 4


async def test_jobs_of_retired_campaigns_go_and_live_ones_stay(database: asyncpg.Pool) -> None:
    ended = OLD
    # Deleted long ago: its jobs go, also the ones left queued at its schedule's end; one still being
    # sent by a worker stays.
    gone = await _campaign(database, "gone", "completed", ended, uid="u-gone")
    for i, state in enumerate(["sent", "bounced", "failed", "suppressed", "unknown", "queued"]):
        await _job(database, gone, f"g{i}@x.test", state, ended)
    sending = await _job(database, gone, "sending@x.test", "sending", ended)
    # Completed long ago but the Campaign object still exists: its status is counted from these jobs.
    kept = await _campaign(database, "kept", "completed", ended, uid="u-kept")
    kept_jobs = [await _job(database, kept, f"k{i}@x.test", "sent", ended) for i in range(3)]
    await _event(database, "reply", ended, job_id=kept_jobs[0], campaign_id=kept, recipient="k0@x.test")
    counts_before = dict(await operator_db.campaign_counts(database, kept))
    # A running campaign that began long ago, and one deleted only recently.
    running = await _campaign(database, "running", "running", ended, uid="u-run")
    await _job(database, running, "r@x.test", "sent", ended)
    recent = await _campaign(database, "recent", "cancelled", RECENT, uid="u-recent")
    await _job(database, recent, "c@x.test", "cancelled", RECENT)
    # A row an object of the same name replaced (another uid), and a namespace this operator does not serve.
    replaced = await _campaign(database, "kept#u-older", "completed", ended, uid="u-older")
    await _job(database, replaced, "o@x.test", "sent", ended)
    elsewhere = await _campaign(database, "gone", "completed", ended, namespace="other", uid="u-other")
    await _job(database, elsewhere, "e@x.test", "sent", ended)
    # The gone campaign's counted feedback: no longer counted anywhere once its jobs are gone.
    await _event(database, "reply", ended, campaign_id=gone, recipient="g0@x.test")

    live = _live(("acme", "kept", "u-kept"), ("acme", "running", "u-run"))
    result = await sweep(database, NOW, RETENTION, live, ["acme"], pause=NO_PAUSE)

    remaining = {
        r["campaign_id"]: r["n"]
        for r in await database.fetch("SELECT campaign_id, count(*) AS n FROM send_jobs GROUP BY campaign_id")
    }
    assert result.jobs == 6 + 1  # gone's six, the replaced row's one
    assert remaining == {gone: 1, kept: 3, running: 1, recent: 1, elsewhere: 1}
    assert await _count(database, "SELECT count(*) FROM send_jobs WHERE id = $1", sending) == 1
    assert dict(await operator_db.campaign_counts(database, kept)) == counts_before
    assert counts_before["replied"] == 1
    # gone still has its in-flight job, so its reply is still counted; nothing else of it is left.
    assert await _count(database, "SELECT count(*) FROM delivery_events WHERE campaign_id = $1", gone) == 1
    assert await _count(database, "SELECT count(*) FROM campaigns") == 6  # campaign rows stay


async def test_without_the_list_of_campaigns_no_job_goes(database: asyncpg.Pool) -> None:
    gone = await _campaign(database, "gone", "completed", OLD, uid="u-gone")
    await _job(database, gone, "g@x.test", "sent", OLD)
    await _event(database, "sent", OLD)

    result = await sweep(database, NOW, RETENTION, None, pause=NO_PAUSE)

    assert (result.events, result.jobs) == (1, 0)
    assert await _count(database, "SELECT count(*) FROM send_jobs") == 1


async def test_a_retired_campaigns_counted_feedback_goes_with_its_last_jobs(database: asyncpg.Pool) -> None:
    gone = await _campaign(database, "gone", "completed", OLD, uid="u-gone")
    job = await _job(database, gone, "g@x.test", "sent", OLD)
    await _event(database, "sent", OLD, job_id=job, campaign_id=gone, recipient="g@x.test")
    await _event(database, "reply", OLD, job_id=job, campaign_id=gone, recipient="g@x.test")

    result = await sweep(database, NOW, RETENTION, _live(), pause=NO_PAUSE)

    assert (result.events, result.jobs) == (2, 1)
    assert await _count(database, "SELECT count(*) FROM delivery_events") == 0


# Ended campaigns (docs/operator.md "Retention"): their counts frozen on their row, their jobs let go.


async def _ended(db: asyncpg.Pool, name: str, ended_at: dt.datetime, *, uid: str) -> tuple[int, list[int]]:
    """A completed campaign with a job in each state a finished campaign has, ended at `ended_at`."""
    cid = await _campaign(db, name, "completed", ended_at, uid=uid)
    states = ["sent", "sent", "sent", "sent", "bounced", "failed", "unknown", "suppressed", "queued"]
    jobs = [await _job(db, cid, f"{name}{i}@x.test", state, ended_at) for i, state in enumerate(states)]
    return cid, jobs


async def _store_final(db: asyncpg.Pool, cid: int, at: dt.datetime) -> None:
    """As the campaign scan does once it ended (pot_operator.campaign.apply), then dated `at`."""
    assert await operator_db.store_final_counts(db, cid, await operator_db.campaign_counts(db, cid))
    await db.execute("UPDATE campaigns SET final_at = $2 WHERE id = $1", cid, at)


def _status_counts(counts: dict[str, object]) -> dict[str, object]:
    """Everything the status is made of: all but the flag saying where the feedback was read."""
    return {k: v for k, v in counts.items() if k != "frozen"}


async def test_an_ended_campaigns_jobs_go_past_the_retention_and_its_counts_stay(
    database: asyncpg.Pool,
) -> None:
    cid, jobs = await _ended(database, "done", OLD, uid="u-done")
    await _event(database, "sent", OLD, job_id=jobs[0], campaign_id=cid, recipient="done0@x.test")
    await _event(database, "complaint", OLD, job_id=jobs[1], campaign_id=cid, recipient="done1@x.test")
    await _store_final(database, cid, OLD)
    # After the end: a reply, a late bounce, an unsubscribe; all still counted until the retention passed.
    await _event(
        database,
        "reply",
        OLD + dt.timedelta(days=2),
        job_id=jobs[0],
        campaign_id=cid,
        recipient="done0@x.test",
    )
    await _event(
        database,
        "late_bounce",
        OLD + dt.timedelta(days=3),
        job_id=jobs[2],
        campaign_id=cid,
        recipient="done2@x.test",
    )
    await database.execute(
        "INSERT INTO suppressions (tenant, address, reason, created_at) VALUES ('acme', 'done3@x.test',"
        " 'unsubscribe', $1)",
        OLD + dt.timedelta(days=4),
    )
    before = await operator_db.campaign_counts(database, cid)
    assert (before["final"], before["frozen"]) == (True, False)
    assert (before["sent"], before["queued"], before["bounced"], before["total"]) == (4, 1, 1, 9)
    assert (before["replied"], before["bounced_later"], before["complained"], before["unsubscribed"]) == (
        1,
        1,
        1,
        1,
    )

    # The Campaign object still exists: before this rule, its jobs were kept for as long as it did.
    result = await sweep(
        database, NOW, RETENTION, _live(("acme", "done", "u-done")), ["acme"], pause=NO_PAUSE
    )

    after = await operator_db.campaign_counts(database, cid)
    assert (result.frozen, result.jobs) == (1, len(jobs))
    assert await _count(database, "SELECT count(*) FROM send_jobs WHERE campaign_id = $1", cid) == 0
    assert await _count(database, "SELECT count(*) FROM delivery_events WHERE campaign_id = $1", cid) == 0
    assert after["frozen"] and after["total"] == 9
    assert _status_counts(after) == _status_counts(before)
    # Another pass finds nothing more and reads the same.
    again = await sweep(database, NOW, RETENTION, _live(("acme", "done", "u-done")), ["acme"], pause=NO_PAUSE)
    assert (again.frozen, again.jobs, again.events) == (0, 0, 0)
    assert await operator_db.campaign_counts(database, cid) == after


async def test_a_reply_after_the_end_counts_while_the_retention_has_not_passed(
    database: asyncpg.Pool,
) -> None:
    cid, jobs = await _ended(database, "fresh", RECENT, uid="u-fresh")
    await _store_final(database, cid, RECENT)
    ended = await operator_db.campaign_counts(database, cid)
    assert ended["replied"] == 0

    # Days after the end a recipient replies (the ingester's event); one left queued at schedule.end is
    # cancelled by a reply to another campaign: the counts by job state are those at the end.
    await _event(database, "reply", NOW, job_id=jobs[0], campaign_id=cid, recipient="fresh0@x.test")
    await database.execute("UPDATE send_jobs SET state = 'cancelled' WHERE id = $1", jobs[-1])
    result = await sweep(
        database, NOW, RETENTION, _live(("acme", "fresh", "u-fresh")), ["acme"], pause=NO_PAUSE
    )

    counts = await operator_db.campaign_counts(database, cid)
    assert (result.frozen, result.jobs) == (0, 0)
    assert counts["replied"] == 1
    assert counts["queued"] == ended["queued"] == 1
    assert await _count(database, "SELECT count(*) FROM send_jobs WHERE campaign_id = $1", cid) == len(jobs)


async def test_final_counts_are_written_once_and_only_for_an_ended_row(database: asyncpg.Pool) -> None:
    running = await _campaign(database, "running", "running", RECENT, uid="u-run")
    await _job(database, running, "r@x.test", "sent", RECENT)
    assert not await operator_db.store_final_counts(
        database, running, await operator_db.campaign_counts(database, running)
    )
    cid, _ = await _ended(database, "done", RECENT, uid="u-done")
    first = await operator_db.campaign_counts(database, cid)
    assert await operator_db.store_final_counts(database, cid, first)
    written = await database.fetchval("SELECT final_counts::text FROM campaigns WHERE id = $1", cid)
    assert not await operator_db.store_final_counts(database, cid, first | {"sent": 99})
    assert await database.fetchval("SELECT final_counts::text FROM campaigns WHERE id = $1", cid) == written
    assert (await operator_db.campaign_counts(database, running))["final"] is False


async def test_a_frozen_campaigns_jobs_go_even_when_campaigns_cannot_be_listed(
    database: asyncpg.Pool,
) -> None:
    frozen, _ = await _ended(database, "frozen", OLD, uid="u-frozen")
    await _store_final(database, frozen, OLD)
    # A job still in a worker's hands is never deleted, whatever its campaign's row says.
    sending = await _job(database, frozen, "frozen-sending@x.test", "sending", OLD)
    # Retired (its object gone) but without final counts: only the list of Campaigns can prove it.
    retired = await _campaign(database, "retired", "completed", OLD, uid="u-retired")
    await _job(database, retired, "x@x.test", "sent", OLD)

    result = await sweep(database, NOW, RETENTION, None, ["acme"], pause=NO_PAUSE)

    remaining = {
        r["campaign_id"]: r["n"]
        for r in await database.fetch("SELECT campaign_id, count(*) AS n FROM send_jobs GROUP BY campaign_id")
    }
    assert (result.frozen, result.jobs) == (1, 9)
    assert remaining == {frozen: 1, retired: 1}
    assert await _count(database, "SELECT count(*) FROM send_jobs WHERE id = $1", sending) == 1


async def test_campaigns_of_namespaces_not_served_are_not_frozen(database: asyncpg.Pool) -> None:
    other, _ = await _ended(database, "done", OLD, uid="u-other")
    await database.execute("UPDATE campaigns SET namespace = 'other', tenant = 'other' WHERE id = $1", other)
    await _store_final(database, other, OLD)

    result = await sweep(database, NOW, RETENTION, _live(), ["acme"], pause=NO_PAUSE)

    assert (result.frozen, result.jobs) == (0, 0)
    assert await database.fetchval("SELECT final_feedback FROM campaigns WHERE id = $1", other) is None


async def test_old_inbox_messages_go_once_they_guard_no_job(database: asyncpg.Pool) -> None:
    pool = await _pool(database)
    mailbox = await _mailbox(database, pool)
    running = await _campaign(database, "running", "running", OLD, uid="u-run")
    live_job = await _job(database, running, "r@x.test", "sent", OLD)
    ended, ended_jobs = await _ended(database, "done", OLD, uid="u-done")
    await _store_final(database, ended, OLD)

    async def message(key: str, at: dt.datetime, job_id: int | None) -> None:
        await database.execute(
            "INSERT INTO inbox_messages (mailbox_id, message_key, uidvalidity, uid, kind, job_id, at)"
            " VALUES ($1, $2, 1, 1, 'reply', $3, $4)",
            mailbox,
            key,
            job_id,
            at,
        )

    await message("old-stranger", OLD, None)  # linked to nothing: goes
    await message("old-live-job", OLD, live_job)  # its job still exists: stays
    await message("old-ended-job", OLD, ended_jobs[0])  # its job goes in this pass: goes with it
    await message("recent-stranger", RECENT, None)  # inside the retention: stays

    result = await sweep(
        database,
        NOW,
        RETENTION,
        _live(("acme", "running", "u-run"), ("acme", "done", "u-done")),
        pause=NO_PAUSE,
    )

    keys = {r["message_key"] for r in await database.fetch("SELECT message_key FROM inbox_messages")}
    assert result.inbox_messages == 2
    assert keys == {"old-live-job", "recent-stranger"}
