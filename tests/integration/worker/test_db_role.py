"""The `pot_worker` Postgres role (common/pot_common/db/worker_role.sql) is enough for everything a
worker does, and no more: it cannot read imported lists, redirect a mailbox, lift a suppression or
rewrite a job's recipient."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from pot_common.sql import load_sql
from pot_stack.smtp_sink import SmtpSink
from pot_worker.clock import ManualClock
from pot_worker.runner import Worker

from .conftest import START, add_campaign, add_jobs, add_mailbox, drain, seed_pool, settings, sink_ca


def as_worker_role(url: str) -> str:
    """The same database, connected as `pot_worker` (the test server trusts loopback)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"pot_worker@{parts.hostname}:{parts.port}"))


async def test_the_worker_role_sends_records_and_marks_credentials_bad(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    sink: SmtpSink,
    strict_sink: SmtpSink,
    vault,  # type: ignore[no-untyped-def]
    dns_server,  # type: ignore[no-untyped-def]
) -> None:
    sink.clear()
    strict_sink.clear()
    written = vault.client().secrets.kv.v2.create_or_update_secret(
        path="pot/acme/mailboxes/refused",
        secret={"username": "good-user", "password": "wrong-password"},
        mount_point=vault.mount,
    )
    seed = await seed_pool(db)  # the schema, applied by its owner as the operator would
    await add_mailbox(db, seed, sink, name="alice")
    refused = await add_mailbox(
        db, seed, strict_sink, name="refused", tls="none", creds="vault:pot/acme/mailboxes/refused"
    )
    cid = await add_campaign(db, seed)
    await add_jobs(db, cid, ["ok-1@good.test", "bounce-1@good.test", "defer-1@good.test", "ok-2@good.test"])
    await db.execute(load_sql("pot_common.db", "worker_role", folder=""))
    await db.execute(load_sql("pot_common.db", "worker_role", folder=""))  # idempotent

    clock = ManualClock(START)
    worker = Worker(
        settings(
            as_worker_role(fresh_database),
            fresh_redis,
            vault_addr=vault.addr,
            vault_token=vault.token,
            smtp_ca_file=sink_ca(sink),
            dns_resolver=dns_server.resolver,
            allow_plaintext_auth=True,
        ),
        clock=clock,
        uniform=lambda a, b: b,
    )
    await worker.start()  # skips the schema: this role may not change it
    try:
        await drain(worker, clock, rounds=5)
        await worker.heartbeat()
        await worker.store.release_all(clock.now())  # the clean exit's hand-back and goodbye
    finally:
        await worker.close()

    states = dict(await db.fetch("SELECT recipient, state::text FROM send_jobs"))
    assert states == {
        "ok-1@good.test": "sent",
        "ok-2@good.test": "sent",
        "bounce-1@good.test": "bounced",
        "defer-1@good.test": "failed",
    }
    assert await db.fetchval("SELECT count(*) FROM suppressions WHERE address = 'bounce-1@good.test'") == 1
    row = await db.fetchrow("SELECT state, credentials_bad_version FROM mailboxes WHERE id = $1", refused)
    assert (row["state"], row["credentials_bad_version"]) == ("credentials_bad", written["data"]["version"])
    assert await db.fetchval("SELECT count(*) FROM worker_heartbeats") == 0  # said goodbye


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM recipients",
        "UPDATE mailboxes SET smtp_host = 'evil.test'",
        "UPDATE mailboxes SET credentials_ref = 'vault:pot/other/x'",
        "UPDATE send_jobs SET recipient = 'x@evil.test'",
        "UPDATE send_jobs SET variables = '{}'",
        "INSERT INTO send_jobs (campaign_id, recipient) VALUES (1, 'x@evil.test')",
        "DELETE FROM suppressions",
        "UPDATE suppressions SET reason = 'manual'",
        "DELETE FROM delivery_events",
        "SELECT * FROM delivery_events",
        "UPDATE campaigns SET state = 'running'",
        "UPDATE pools SET paused = false",
        "CREATE TABLE grab (x int)",
    ],
)
async def test_the_worker_role_cannot(db: asyncpg.Connection, fresh_database: str, statement: str) -> None:
    await seed_pool(db)
    await db.execute(load_sql("pot_common.db", "worker_role", folder=""))
    conn = await asyncpg.connect(as_worker_role(fresh_database))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()
