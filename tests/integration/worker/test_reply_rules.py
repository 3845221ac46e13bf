"""Every reply rule of the SMTP sink ends in the right job state, event and retry schedule.

Real Postgres, Redis, OpenBao, DNS and the sink; the worker runs in-process with a manual clock and a
jitter source that returns the ceiling, so the retry schedule is exact and nobody sleeps through it.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest
from pot_stack.smtp_sink import SmtpSink
from pot_worker.clock import ManualClock
from pot_worker.runner import Worker

from .conftest import START, add_campaign, add_jobs, add_mailbox, drain, seed_pool, settings, sink_ca

RULES = {
    "ok-1@good.test": ("sent", ["sent"]),
    "slow-1@good.test": ("sent", ["sent"]),
    "bounce-1@good.test": ("bounced", ["bounced"]),
    "full-1@good.test": ("failed", ["soft_bounced"] * 3),
    "defer-1@good.test": ("failed", ["deferred"] * 3),
    "throttle-1@good.test": ("failed", ["deferred"] * 3),
    "spam-1@good.test": ("failed", ["policy"]),
    "drop-1@good.test": ("unknown", ["unknown"]),
}


@pytest.fixture
def vault_creds(vault) -> str:  # type: ignore[no-untyped-def]
    vault.client().secrets.kv.v2.create_or_update_secret(
        path="pot/mailboxes/alice",
        secret={"username": "alice-user", "password": "alice-password"},
        mount_point=vault.mount,
    )
    return "vault:pot/mailboxes/alice"


async def test_every_reply_rule(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    sink: SmtpSink,
    vault,
    vault_creds: str,
    dns_server,
) -> None:  # type: ignore[no-untyped-def]
    sink.clear()
    seed = await seed_pool(db)
    await add_mailbox(db, seed, sink, name="alice", creds=vault_creds)
    cid = await add_campaign(db, seed)
    await add_jobs(db, cid, list(RULES))
    clock = ManualClock(START)
    worker = Worker(
        settings(
            fresh_database,
            fresh_redis,
            vault_addr=vault.addr,
            vault_token=vault.token,
            smtp_ca_file=sink_ca(sink),
            dns_resolver=dns_server.resolver,
        ),
        clock=clock,
        uniform=lambda a, b: b,
    )
    await worker.start()
    try:
        await worker.run_once()  # first attempt of everything at START
        rows = await db.fetch("SELECT recipient, state::text, next_attempt_at, attempts FROM send_jobs")
        first = {r["recipient"]: r for r in rows}
        # Temporary failures: retry after the first backoff ceiling (base 60 s), attempts counted.
        for rcpt in ("defer-1@good.test", "throttle-1@good.test", "full-1@good.test"):
            assert first[rcpt]["state"] == "deferred"
            assert first[rcpt]["next_attempt_at"] == START + timedelta(seconds=60)
        clock.advance(59)
        assert await worker.run_once() == 0  # not due yet
        clock.advance(1)
        await worker.run_once()
        second = {
            r["recipient"]: r for r in await db.fetch("SELECT recipient, next_attempt_at FROM send_jobs")
        }
        assert second["defer-1@good.test"]["next_attempt_at"] == START + timedelta(seconds=60 + 120)
        await drain(worker, clock)
    finally:
        await worker.close()

    states = {
        r["recipient"]: r["state"] for r in await db.fetch("SELECT recipient, state::text FROM send_jobs")
    }
    assert states == {rcpt: want[0] for rcpt, want in RULES.items()}
    events = await db.fetch(
        "SELECT recipient, outcome, attempt, smtp_code, enhanced_code FROM delivery_events"
        " ORDER BY recipient, attempt"
    )
    by_rcpt: dict[str, list[str]] = {}
    for e in events:
        by_rcpt.setdefault(e["recipient"], []).append(e["outcome"])
    assert by_rcpt == {rcpt: want[1] for rcpt, want in RULES.items()}
    codes = {(e["recipient"], e["attempt"]): (e["smtp_code"], e["enhanced_code"]) for e in events}
    assert codes[("bounce-1@good.test", 1)] == (550, "5.1.1")
    assert codes[("full-1@good.test", 3)] == (552, "5.2.2")
    assert codes[("throttle-1@good.test", 2)] == (421, "4.7.0")
    assert codes[("spam-1@good.test", 1)] == (550, "5.7.1")

    # Hard bounce -> suppressed for the tenant; nothing else is.
    suppressed = await db.fetch("SELECT tenant, address, reason FROM suppressions")
    assert [tuple(r) for r in suppressed] == [("acme", "bounce-1@good.test", "hard_bounce")]

    # The sink holds exactly the accepted ones plus the dropped one (accepted, but we could not know).
    stored = sorted(m.rcpt_to for m in sink.messages())
    assert stored == ["drop-1@good.test", "ok-1@good.test", "slow-1@good.test"]
    for mail in sink.messages():
        assert mail.auth_user == "alice-user" and mail.tls
        assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert str(mail.message["List-Unsubscribe"]).strip().startswith("<https://unsub.acme.test/u?e=")
        assert mail.message["Message-ID"].startswith(f"<pot.{cid}.")


async def test_a_suppressed_address_is_never_sent(
    db: asyncpg.Connection, fresh_database: str, fresh_redis: str, sink: SmtpSink
) -> None:
    sink.clear()
    seed = await seed_pool(db)
    await add_mailbox(db, seed, sink, name="alice", tls="none")
    cid = await add_campaign(db, seed)
    await db.execute(
        "INSERT INTO suppressions (tenant, address, reason) VALUES ('acme', 'gone@nomx.test', 'unsubscribe')"
    )
    await add_jobs(db, cid, ["Gone@nomx.test", "here@nomx.test"])
    clock = ManualClock(START)
    worker = Worker(settings(fresh_database, fresh_redis), clock=clock)
    await worker.start()
    try:
        await drain(worker, clock, rounds=2)
    finally:
        await worker.close()
    states = dict(await db.fetch("SELECT recipient, state::text FROM send_jobs"))
    assert states == {"Gone@nomx.test": "suppressed", "here@nomx.test": "sent"}
    assert [m.rcpt_to for m in sink.messages()] == ["here@nomx.test"]
    assert await db.fetchval("SELECT count(*) FROM delivery_events WHERE outcome = 'suppressed'") == 1


async def test_implicit_tls_and_plain_connections(
    db: asyncpg.Connection, fresh_database: str, fresh_redis: str, sink: SmtpSink
) -> None:
    sink.clear()
    seed = await seed_pool(db)
    await add_mailbox(db, seed, sink, name="smtps", tls="implicit")
    cid = await add_campaign(db, seed)
    await add_jobs(db, cid, [f"r{i}@nomx.test" for i in range(5)])
    clock = ManualClock(START)
    worker = Worker(settings(fresh_database, fresh_redis, smtp_ca_file=sink_ca(sink)), clock=clock)
    await worker.start()
    try:
        await drain(worker, clock, rounds=1)
    finally:
        await worker.close()
    mails = sink.messages()
    assert len(mails) == 5 and all(m.tls and m.auth_user is None for m in mails)


async def test_auth_failure_marks_credentials_bad_and_stops_the_mailbox(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    strict_sink: SmtpSink,
    sink: SmtpSink,
    vault,  # type: ignore[no-untyped-def]
) -> None:
    strict_sink.clear()
    sink.clear()
    client = vault.client()
    written = client.secrets.kv.v2.create_or_update_secret(
        path="pot/mailboxes/wrong",
        secret={"username": "good-user", "password": "canary-WRONG-pw-4711"},
        mount_point=vault.mount,
    )
    version = written["data"]["version"]
    seed = await seed_pool(db)
    bad = await add_mailbox(db, seed, strict_sink, name="bad", tls="none", creds="vault:pot/mailboxes/wrong")
    cid = await add_campaign(db, seed)
    await add_jobs(db, cid, [f"r{i}@nomx.test" for i in range(6)])
    clock = ManualClock(START)
    worker = Worker(
        settings(
            fresh_database,
            fresh_redis,
            vault_addr=vault.addr,
            vault_token=vault.token,
            allow_plaintext_auth=True,  # the strict sink speaks no TLS
        ),
        clock=clock,
    )
    await worker.start()
    try:
        await worker.run_once()
        row = await db.fetchrow(
            "SELECT state, state_reason, credentials_bad_version FROM mailboxes WHERE id = $1", bad
        )
        assert row["state"] == "credentials_bad"
        assert "535" in row["state_reason"] and "canary" not in row["state_reason"]
        # The version refused, so the operator can tell a rotated secret from this one.
        assert row["credentials_bad_version"] == version
        # Every job is back in the queue, no attempt counted, nothing delivered.
        jobs = await db.fetch("SELECT state::text, attempts FROM send_jobs")
        assert {(r["state"], r["attempts"]) for r in jobs} == {("queued", 0)}
        assert strict_sink.messages() == []
        assert await worker.run_once() == 0  # no usable mailbox: nothing claimed
        # A healthy mailbox joins the pool: the jobs go out through it.
        await add_mailbox(db, seed, sink, name="good", tls="none")
        await worker.refresh()
        await drain(worker, clock, rounds=1)
    finally:
        await worker.close()
    assert len(sink.messages()) == 6
    assert await db.fetchval("SELECT count(*) FROM delivery_events WHERE outcome = 'auth_failed'") >= 1
    dump = "\n".join(str(tuple(r)) for r in await db.fetch("SELECT * FROM delivery_events")) + "\n".join(
        str(tuple(r)) for r in await db.fetch("SELECT * FROM mailboxes")
    )
    assert "canary-WRONG-pw-4711" not in dump


async def test_circuit_opens_for_one_provider_while_others_flow(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    sink: SmtpSink,
    dns_server,  # type: ignore[no-untyped-def]
) -> None:
    sink.clear()
    seed = await seed_pool(db)
    await add_mailbox(db, seed, sink, name="alice", tls="none")
    cid = await add_campaign(db, seed)
    await add_jobs(
        db, cid, [f"defer-{i}@acme-mail.test" for i in range(6)] + [f"ok-{i}@good.test" for i in range(6)]
    )
    clock = ManualClock(START)
    worker = Worker(
        settings(
            fresh_database,
            fresh_redis,
            breaker_threshold=2,
            breaker_cooloff_seconds=600,
            dns_resolver=dns_server.resolver,
            batch_size=50,
        ),
        clock=clock,
        uniform=lambda a, b: b,
    )
    await worker.start()
    try:
        await worker.run_once()
    finally:
        await worker.close()
    attempted = await db.fetchval(
        "SELECT count(*) FROM send_jobs WHERE recipient LIKE 'defer-%' AND attempts > 0"
    )
    assert attempted == 2  # the circuit for acme-mail.test opened after two temporary failures
    waiting = await db.fetch(
        "SELECT next_attempt_at FROM send_jobs WHERE recipient LIKE 'defer-%' AND attempts = 0"
    )
    assert len(waiting) == 4 and all(r["next_attempt_at"] == START + timedelta(seconds=600) for r in waiting)
    assert sorted(m.rcpt_to for m in sink.messages()) == sorted(f"ok-{i}@good.test" for i in range(6))
