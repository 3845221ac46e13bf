"""The ingester's Postgres side: the pool's inboxes, checkpoints, the record step (one transaction
per message: its effects and the checkpoint together) and each inbox's state; used by
pot_ingester.supervisor and .inbox."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from pot_common.db import apply_schema, query
from pot_common.sql import load_sql
from pot_feedback.classify import Verdict

from pot_ingester import metrics
from pot_ingester.decide import effect, message_key, note, referenced_ids
from pot_ingester.imapparse import Fetched

log = logging.getLogger("pot_ingester.store")

PG_ERRORS = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError, asyncpg.CannotConnectNowError)
PG_FAILURES = (*PG_ERRORS, asyncpg.PostgresError)


class PoolNotFound(Exception):
    """The pool has no row yet (the operator has not projected it)."""


@dataclass(frozen=True)
class Inbox:
    """One mailbox whose inbox is read: where, and how its login is found (never the secret)."""

    id: int
    namespace: str
    name: str
    address: str
    host: str
    port: int
    tls: str  # implicit, starttls, none
    credentials_ref: str | None
    auth_mechanism: str  # password, oauth2
    oauth_provider: str | None
    oauth_token_url: str | None

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Recorded:
    new: bool  # False: the message was recorded before (a replay), nothing else changed
    linked: bool
    suppressed: int
    cancelled: int


def inbox_from_row(row: asyncpg.Record) -> Inbox:
    return Inbox(
        id=int(row["id"]),
        namespace=row["namespace"],
        name=row["name"],
        address=row["address"],
        host=row["imap_host"],
        port=int(row["imap_port"]),
        tls=row["imap_tls"],
        credentials_ref=row["credentials_ref"],
        auth_mechanism=row["auth_mechanism"],
        oauth_provider=row["oauth_provider"],
        oauth_token_url=row["oauth_token_url"],
    )


class Store:
    """asyncpg pool plus the ingester's statements (common/pot_common/db/queries/ingest_*.sql)."""

    def __init__(self, database_url: str, pool_label: str, max_size: int = 4) -> None:
        self._url = database_url
        self._label = pool_label
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Connect and apply the schema; the least-privileged role may not, the operator's is in force."""
        self._pool = await asyncpg.create_pool(
            self._url, min_size=1, max_size=self._max_size, command_timeout=30
        )
        async with self._pool.acquire() as conn:
            try:
                await apply_schema(conn)
            except asyncpg.InsufficientPrivilegeError:
                log.info("Skipped the schema, this role may not change it pool=%s", self._label)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 5)
            except TimeoutError:
                pool.terminate()  # a connection still busy: its transaction rolls back

    @property
    def db(self) -> asyncpg.Pool:
        assert self._pool is not None, "open() first"
        return self._pool

    async def pool_id(self, namespace: str, name: str) -> int:
        value = await self.db.fetchval(query("ingest_pool"), namespace, name)
        if value is None:
            raise PoolNotFound(f"pool {namespace}/{name} has no row yet")
        return int(value)

    async def inboxes(self, pool_id: int) -> list[Inbox]:
        return [inbox_from_row(r) for r in await self.db.fetch(query("ingest_mailboxes"), pool_id)]

    async def checkpoint(self, mailbox_id: int) -> tuple[int, int] | None:
        row = await self.db.fetchrow(query("ingest_checkpoint"), mailbox_id)
        return None if row is None else (int(row["uidvalidity"]), int(row["last_uid"]))

    async def reset(self, mailbox_id: int, uidvalidity: int) -> None:
        await self.db.execute(query("ingest_reset"), mailbox_id, uidvalidity, datetime.now(UTC))

    async def inbox_state(self, mailbox_id: int, state: str, error: str | None) -> bool:
        """Record the ingester's verdict on the inbox (pot_ingester/sql/inbox_state.sql); True when the
        row changed (it already said so otherwise)."""
        status = await self.db.execute(
            load_sql("pot_ingester", "inbox_state", "sql"), mailbox_id, state, error
        )
        return bool(status == "UPDATE 1")

    async def record(self, inbox: Inbox, uidvalidity: int, message: Fetched, verdict: Verdict) -> Recorded:
        """Link, then write the message, its effects and the checkpoint in one transaction."""
        refs, job_ids = referenced_ids(verdict)
        what = effect(verdict)
        now = datetime.now(UTC)
        async with self.db.acquire() as conn, conn.transaction():
            job = None
            if verdict.kind != "unknown":
                job = await conn.fetchrow(
                    query("ingest_link"), inbox.id, inbox.namespace, refs, job_ids, verdict.recipient
                )
            row = await conn.fetchrow(
                query("ingest_record"),
                inbox.id,
                message_key(message.raw),
                uidvalidity,
                message.uid,
                verdict.kind,
                verdict.reason,
                job["id"] if job else None,
                now,
                what.outcome if job else None,
                verdict.status,
                note(verdict),
                what.suppression if job else None,
                what.cancel and job is not None,
            )
        recorded = Recorded(
            new=bool(row["recorded"]),
            linked=job is not None,
            suppressed=int(row["suppressed"]),
            cancelled=int(row["cancelled"]),
        )
        if recorded.new:
            kind = (
                verdict.kind
                if verdict.kind != "bounce"
                else ("bounce_hard" if verdict.hard else "bounce_soft")
            )
            metrics.MESSAGES.labels(self._label, kind, "true" if job else "false").inc()
            if recorded.suppressed and what.suppression:
                metrics.SUPPRESSIONS.labels(self._label, what.suppression).inc()
            if message.arrived is not None:
                metrics.LAG.labels(self._label).set(max(0.0, (now - message.arrived).total_seconds()))
        return recorded
