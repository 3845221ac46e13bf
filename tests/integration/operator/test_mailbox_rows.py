"""A Mailbox's row as the operator writes it and the worker reads it (real Postgres): the signature
travels from spec.signature to the worker's Sender, and an unchanged row is not rewritten."""

from __future__ import annotations

import dataclasses

import asyncpg
from pot_common.db import apply_schema, query
from pot_operator import db as operator_db
from pot_worker.catalog import mailbox_from_row


def mailbox(signature: str) -> operator_db.MailboxRow:
    return operator_db.MailboxRow(
        name="alice",
        address="alice@acme.test",
        display_name="Alice",
        smtp_host="smtp.acme.test",
        smtp_port=587,
        smtp_tls="starttls",
        credentials_ref="vault:pot/acme/mailboxes/alice",
        daily_cap=10,
        hourly_cap=5,
        min_spacing_seconds=60,
        state="active",
        state_reason="",
        cooldown_until=None,
        signature=signature,
    )


async def test_the_signature_reaches_the_worker_and_follows_edits(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=2)
    try:
        await apply_schema(conn)
        pool_id = await conn.fetchval("INSERT INTO pools (namespace, name) VALUES ('acme', 'p') RETURNING id")
        for signature in ("Alice\nAcme Ltd", "Alice, Acme"):
            await operator_db.upsert_mailboxes(pool, pool_id, "acme", [mailbox(signature)])
            (row,) = await conn.fetch(query("worker_mailboxes"), pool_id)
            assert mailbox_from_row(row).signature == signature
        before = await conn.fetchval("SELECT updated_at FROM mailboxes WHERE name = 'alice'")
        await operator_db.upsert_mailboxes(pool, pool_id, "acme", [mailbox("Alice, Acme")])
        assert await conn.fetchval("SELECT updated_at FROM mailboxes WHERE name = 'alice'") == before
    finally:
        await pool.close()
        await conn.close()


async def test_the_workers_reason_for_a_refusal_stays_until_the_state_clears(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=2)
    try:
        await apply_schema(conn)
        pool_id = await conn.fetchval("INSERT INTO pools (namespace, name) VALUES ('acme', 'p') RETURNING id")
        await operator_db.upsert_mailboxes(pool, pool_id, "acme", [mailbox("")])
        # The worker's verdict, in its own words (here the token endpoint's).
        await conn.execute(
            "UPDATE mailboxes SET state = 'credentials_bad', state_reason = 'invalid_grant: revoked'"
            " WHERE name = 'alice'"
        )
        bad = dataclasses.replace(
            mailbox(""), state="credentials_bad", state_reason="The SMTP server refused the credentials"
        )
        await operator_db.upsert_mailboxes(pool, pool_id, "acme", [bad])
        reason = "SELECT state, state_reason FROM mailboxes WHERE name = 'alice'"
        assert tuple(await conn.fetchrow(reason)) == ("credentials_bad", "invalid_grant: revoked")
        # Cleared (a new secret version): the operator's state and reason again.
        await operator_db.upsert_mailboxes(pool, pool_id, "acme", [mailbox("")])
        assert tuple(await conn.fetchrow(reason)) == ("active", "")
    finally:
        await pool.close()
        await conn.close()
