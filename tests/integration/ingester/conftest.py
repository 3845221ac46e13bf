"""Fixtures for the ingester's integration tests: a database with two tenants' pools, mailboxes whose
inboxes are read, campaigns and sent jobs, as the operator and the workers would have left them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from pot_common.db import apply_schema


@dataclass(frozen=True)
class World:
    pool_id: int
    mailbox_id: int
    campaign_id: int


def as_worker_role(url: str) -> str:
    """The same database, connected as `pot_worker` (the test server trusts loopback)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"pot_worker@{parts.hostname}:{parts.port}"))


async def seed_tenant(
    conn: asyncpg.Connection,
    namespace: str,
    *,
    mailbox: str = "alice",
    imap_host: str = "127.0.0.1",
    imap_port: int = 993,
    imap_tls: str = "implicit",
    creds: str | None = None,
    auth: str = "password",
    token_url: str | None = None,
) -> World:
    """A pool `outreach`, one mailbox with an inbox, one running campaign, in `namespace`."""
    await apply_schema(conn)
    pool_id = await conn.fetchval(
        "INSERT INTO pools (namespace, name) VALUES ($1, 'outreach') RETURNING id", namespace
    )
    mailbox_id = await add_mailbox(
        conn, pool_id, namespace, mailbox, imap_host, imap_port, imap_tls, creds, auth, token_url
    )
    campaign_id = await add_campaign(conn, pool_id, namespace, "spring")
    return World(int(pool_id), mailbox_id, campaign_id)


async def add_mailbox(
    conn: asyncpg.Connection,
    pool_id: int,
    namespace: str,
    name: str,
    imap_host: str = "127.0.0.1",
    imap_port: int = 993,
    imap_tls: str = "implicit",
    creds: str | None = None,
    auth: str = "password",
    token_url: str | None = None,
) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO mailboxes (pool_id, namespace, name, address, smtp_host, smtp_port, credentials_ref,"
            " imap_host, imap_port, imap_tls, auth_mechanism, oauth_provider, oauth_token_url)"
            " VALUES ($1, $2, $3, $4, '127.0.0.1', 25, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            pool_id,
            namespace,
            name,
            f"{name}@{namespace}-outreach.test",
            creds,
            imap_host,
            imap_port,
            imap_tls,
            auth,
            "custom" if auth == "oauth2" else None,
            token_url,
        )
    )


async def add_campaign(conn: asyncpg.Connection, pool_id: int, namespace: str, name: str) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template, state)"
            " VALUES ($1, $2, $3, $2, 'Hello', 'Hi', 'running') RETURNING id",
            pool_id,
            namespace,
            name,
        )
    )


async def add_job(
    conn: asyncpg.Connection,
    campaign_id: int,
    recipient: str,
    *,
    mailbox_id: int | None = None,
    state: str = "sent",
    attempts: int = 1,
) -> tuple[int, str]:
    """A job; a sent one has its mailbox and POT's Message-ID. Returns (id, message id or '')."""
    job_id = int(
        await conn.fetchval(
            "INSERT INTO send_jobs (campaign_id, recipient, state, attempts, mailbox_id)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            campaign_id,
            recipient,
            state,
            attempts if state != "queued" else 0,
            mailbox_id,
        )
    )
    message_id = ""
    if state != "queued":
        message_id = f"<pot.{campaign_id}.{job_id}.{attempts}@outreach.test>"
        await conn.execute("UPDATE send_jobs SET message_id = $2 WHERE id = $1", job_id, message_id)
        await conn.execute(
            "INSERT INTO delivery_events (job_id, attempt, campaign_id, mailbox_id, recipient, outcome)"
            " VALUES ($1, $2, $3, $4, $5, 'sent')",
            job_id,
            attempts,
            campaign_id,
            mailbox_id,
            recipient,
        )
    return job_id, message_id


@pytest.fixture
async def db(fresh_database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(fresh_database)
    try:
        yield conn
    finally:
        await conn.close()
