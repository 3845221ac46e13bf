"""The endpoint's Postgres side: add a tenant's suppression, and say whether the database answers.

Called by pot_unsubscribe.app. The pool connects lazily, so the endpoint starts (and shows its pages)
while Postgres is away; /readyz says so. The schema is applied on first contact like every POT process
does, unless the role may not (the least-privileged `pot_unsubscribe` role of unsubscribe_role.sql).
The worker re-checks suppressions at every claim, so a suppression here also stops the address's
queued jobs; nothing else is written.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from pot_common.db import apply_schema
from pot_common.sql import load_sql

log = logging.getLogger("pot_unsubscribe.store")
# What "the database did not do it" looks like: down, restarting, refusing, timing out, or a statement
# this role may not run. Each is a 503 to the person clicking, who may simply try again.
DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class DatabaseUnavailable(Exception):
    """The suppression was not written (the message names no address)."""


class Store:
    def __init__(self, dsn: str, size: int, timeout: float = 5.0) -> None:
        self._dsn = dsn
        self._size = size
        self._timeout = timeout
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._schema_done = False

    async def _ready_pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=0, max_size=self._size, command_timeout=self._timeout
                )
            if not self._schema_done:
                async with self._pool.acquire(timeout=self._timeout) as conn:
                    try:
                        await apply_schema(conn)
                    except asyncpg.InsufficientPrivilegeError:
                        log.info("Skipped the schema, this role may not change it")
                self._schema_done = True
            return self._pool

    async def suppress(self, tenant: str, address: str, campaign: str) -> bool:
        """Suppress `address` for `tenant`; True when this call added it, False when it already was."""
        try:
            pool = await self._ready_pool()
            added = await pool.fetchval(
                load_sql("pot_unsubscribe", "suppress"), tenant, address, f"one-click:{campaign}"[:512]
            )
        except DB_ERRORS as exc:
            log.error("Could not write the suppression tenant=%s error=%s", tenant, type(exc).__name__)
            raise DatabaseUnavailable("the suppression was not written") from None
        return bool(added)

    async def ping(self) -> bool:
        try:
            pool = await self._ready_pool()
            return bool(await pool.fetchval("SELECT true", timeout=self._timeout))
        except DB_ERRORS:
            return False

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
