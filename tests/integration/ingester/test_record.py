"""The record step on a real Postgres: each kind's effects, linking by Message-ID or recipient, one
transaction with the checkpoint, replays recorded once, and tenant isolation (canaries)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pot_common.sql import load_sql
from pot_feedback.classify import Verdict
from pot_feedback.classify.verdict import UNKNOWN
from pot_ingester.imapparse import Fetched
from pot_ingester.store import Inbox, Store

from .conftest import add_campaign, add_job, as_worker_role, seed_tenant


@contextlib.asynccontextmanager
async def reading(url: str, pool_id: int) -> AsyncIterator[tuple[Store, Inbox]]:
    """The ingester's store for the pool's only inbox, closed afterwards."""
    store = Store(url, "acme/outreach")
    await store.open()
    try:
        (inbox,) = await store.inboxes(pool_id)
        yield store, inbox
    finally:
        await store.close()


def message(uid: int, key: str) -> Fetched:
    return Fetched(uid, f"Message-ID: <{key}@mx.test>\r\nSubject: x\r\n\r\nbody\r\n".encode(), None)


def bounce(recipient: str, *refs: str, hard: bool = True) -> Verdict:
    return Verdict("bounce", "5.1.1" if hard else "4.2.2", hard, "user-unknown", recipient, refs)


def reply(recipient: str, *refs: str, unsubscribe: bool = False) -> Verdict:
    return Verdict("reply", None, False, "reply", recipient, refs, unsubscribe)


async def events(db: asyncpg.Connection, outcome: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT job_id, mailbox_id, recipient, enhanced_code FROM delivery_events WHERE outcome = $1", outcome
    )


async def test_a_hard_bounce_is_an_event_and_a_suppression_once_with_the_checkpoint(
    db: asyncpg.Connection, fresh_database: str
) -> None:
    acme = await seed_tenant(db, "acme")
    job, mid = await add_job(db, acme.campaign_id, "Late-Bounce-1@good.test", mailbox_id=acme.mailbox_id)
    async with reading(fresh_database, acme.pool_id) as (store, inbox):
        first = await store.record(inbox, 77, message(5, "dsn-1"), bounce("late-bounce-1@good.test", mid))
        again = await store.record(inbox, 77, message(5, "dsn-1"), bounce("late-bounce-1@good.test", mid))
        assert (first.new, first.linked, first.suppressed) == (True, True, 1)
        assert (again.new, again.suppressed) == (False, 0)
        assert await store.checkpoint(inbox.id) == (77, 5)
    assert [tuple(r) for r in await events(db, "late_bounce")] == [
        (job, acme.mailbox_id, "Late-Bounce-1@good.test", "5.1.1")
    ]
    assert await db.fetchval("SELECT reason FROM suppressions WHERE address = 'late-bounce-1@good.test'") == (
        "hard_bounce"
    )
    # The operator's health window: a late bounce is a bounce of an attempt already counted.
    counts = await db.fetchrow(
        load_sql("pot_operator", "mailbox_window_counts", folder="sql"),
        [acme.mailbox_id],
        [await db.fetchval("SELECT now() - interval '1 hour'")],
    )
    assert (counts["attempted"], counts["bounced"]) == (1, 1)


async def test_a_soft_bounce_and_an_auto_reply_are_events_without_suppression(
    db: asyncpg.Connection, fresh_database: str
) -> None:
    acme = await seed_tenant(db, "acme")
    _, mid = await add_job(db, acme.campaign_id, "full@good.test", mailbox_id=acme.mailbox_id)
    async with reading(fresh_database, acme.pool_id) as (store, inbox):
        await store.record(inbox, 1, message(1, "soft"), bounce("full@good.test", mid, hard=False))
        ooo = Verdict("auto-reply", None, False, "vacation", "full@good.test", (mid,))
        await store.record(inbox, 1, message(2, "ooo"), ooo)
        await store.record(inbox, 1, message(3, "junk"), Verdict("unknown", None, False, "unknown", None))
        assert await store.checkpoint(inbox.id) == (1, 3)
    assert len(await events(db, "late_soft_bounce")) == 1
    assert len(await events(db, "auto_reply")) == 1
    assert await db.fetchval("SELECT count(*) FROM suppressions") == 0
    assert await db.fetchval("SELECT count(*) FROM inbox_messages") == 3


async def test_a_reply_suppresses_its_author_and_cancels_their_open_jobs_in_the_tenant_only(
    db: asyncpg.Connection, fresh_database: str
) -> None:
    acme = await seed_tenant(db, "acme")
    other = await seed_tenant(db, "other")
    _, mid = await add_job(db, acme.campaign_id, "reply-1@good.test", mailbox_id=acme.mailbox_id)
    later = await add_campaign(db, acme.pool_id, "acme", "follow-up")
    open_job, _ = await add_job(db, later, "Reply-1@good.test", state="queued")
    canary, _ = await add_job(db, other.campaign_id, "reply-1@good.test", state="queued")
    await db.execute(load_sql("pot_common.db", "worker_role", folder=""))
    async with reading(as_worker_role(fresh_database), acme.pool_id) as (store, inbox):
        done = await store.record(inbox, 3, message(1, "r1"), reply("reply-1@good.test", "<x@y>", mid))
        assert (done.linked, done.suppressed, done.cancelled) == (True, 1, 1)
    assert await db.fetchval("SELECT state::text FROM send_jobs WHERE id = $1", open_job) == "cancelled"
    assert await db.fetchval("SELECT state::text FROM send_jobs WHERE id = $1", canary) == "queued"
    rows = await db.fetch("SELECT tenant, reason FROM suppressions")
    assert [tuple(r) for r in rows] == [("acme", "reply")]
    assert len(await events(db, "reply")) == 1


async def test_a_reply_asking_to_unsubscribe_is_an_unsubscribe(
    db: asyncpg.Connection, fresh_database: str
) -> None:
    acme = await seed_tenant(db, "acme")
    _, mid = await add_job(db, acme.campaign_id, "stop@good.test", mailbox_id=acme.mailbox_id)
    async with reading(fresh_database, acme.pool_id) as (store, inbox):
        await store.record(inbox, 3, message(1, "u"), reply("stop@good.test", mid, unsubscribe=True))
    assert (
        await db.fetchval("SELECT reason FROM suppressions WHERE address = 'stop@good.test'") == "unsubscribe"
    )


async def test_without_a_message_id_the_recipient_links_to_this_mailboxs_latest_job(
    db: asyncpg.Connection, fresh_database: str
) -> None:
    acme = await seed_tenant(db, "acme")
    await add_job(db, acme.campaign_id, "gone@good.test", mailbox_id=acme.mailbox_id)
    later = await add_campaign(db, acme.pool_id, "acme", "later")
    newest, _ = await add_job(db, later, "gone@good.test", mailbox_id=acme.mailbox_id)
    async with reading(fresh_database, acme.pool_id) as (store, inbox):
        await store.record(inbox, 3, message(1, "b"), bounce("gone@good.test"))
        # An earlier attempt's Message-ID (the job row holds the latest) still names the job.
        earlier = f"<pot.{later}.{newest}.1@elsewhere.test>"
        await db.execute("UPDATE send_jobs SET message_id = '<pot.x@y>' WHERE id = $1", newest)
        await store.record(
            inbox, 3, message(2, "c"), Verdict("complaint", None, False, "abuse", None, (earlier,))
        )
    assert [r["job_id"] for r in await events(db, "late_bounce")] == [newest]
    assert [r["job_id"] for r in await events(db, "complaint")] == [newest]


async def test_a_message_naming_another_tenants_job_touches_nothing(
    db: asyncpg.Connection, fresh_database: str
) -> None:
    acme = await seed_tenant(db, "acme")
    other = await seed_tenant(db, "other", mailbox="bob")
    canary_job, canary_mid = await add_job(
        db, other.campaign_id, "canary@good.test", mailbox_id=other.mailbox_id
    )
    async with reading(fresh_database, acme.pool_id) as (store, inbox):
        forged = bounce("canary@good.test", canary_mid, f"<pot.{other.campaign_id}.{canary_job}.1@x>")
        done = await store.record(inbox, 3, message(1, "forged"), forged)
        stranger = await store.record(inbox, 3, message(2, "stranger"), reply("canary@good.test"))
    assert (done.new, done.linked, stranger.linked) == (True, False, False)
    assert await db.fetchval("SELECT count(*) FROM suppressions") == 0
    assert await db.fetchval("SELECT count(*) FROM delivery_events WHERE outcome <> 'sent'") == 0
    assert await db.fetchval("SELECT job_id FROM inbox_messages WHERE message_key LIKE '%forged%'") is None


async def test_a_renumbered_inbox_is_read_again_without_repeating_effects(
    db: asyncpg.Connection, fresh_database: str
) -> None:
    acme = await seed_tenant(db, "acme")
    _, mid = await add_job(db, acme.campaign_id, "x@good.test", mailbox_id=acme.mailbox_id)
    async with reading(fresh_database, acme.pool_id) as (store, inbox):
        await store.record(inbox, 10, message(40, "m"), bounce("x@good.test", mid))
        await store.reset(inbox.id, 11)
        assert await store.checkpoint(inbox.id) == (11, 0)
        again = await store.record(inbox, 11, message(1, "m"), bounce("x@good.test", mid))
        assert (again.new, again.suppressed) == (False, 0)
        assert await store.checkpoint(inbox.id) == (11, 1)
    assert len(await events(db, "late_bounce")) == 1


async def test_what_postgres_refuses_is_a_data_error_and_unknown_still_records(
    db: asyncpg.Connection, fresh_database: str
) -> None:
    """The reader's fallback (pot_ingester.inbox): a verdict Postgres will not store raises DataError, and
    the same message recorded as unknown moves the checkpoint past it."""
    acme = await seed_tenant(db, "acme")
    async with reading(fresh_database, acme.pool_id) as (store, inbox):
        with pytest.raises(asyncpg.DataError):
            await store.record(inbox, 3, message(1, "nul"), reply("bad\x00@good.test"))
        done = await store.record(inbox, 3, message(1, "nul"), UNKNOWN)
        assert done.new and await store.checkpoint(inbox.id) == (3, 1)
