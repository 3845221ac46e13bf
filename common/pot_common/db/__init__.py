"""POT's Postgres schema and named SQL queries; used by the worker, the operator and potctl."""

from __future__ import annotations

import asyncpg

from pot_common.sql import load_sql

# Any constant works; it only has to be the same in every process that applies the schema.
_SCHEMA_LOCK_KEY = 0x504F54  # "POT"


def query(name: str) -> str:
    """The text of `queries/<name>.sql` (read once): SQL lives in files, not in scattered strings."""
    return load_sql(__name__, name)


def schema_sql() -> str:
    """The idempotent schema script, `schema.sql` beside this module."""
    return load_sql(__name__, "schema", folder="")


async def apply_schema(conn: asyncpg.Connection) -> None:
    """Create or complete the schema; safe to call from many processes at once.

    Concurrent `CREATE ... IF NOT EXISTS` races on Postgres' catalogs, so the script runs in one
    transaction behind an advisory lock.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK_KEY)
        await conn.execute(schema_sql())
