"""POT's Postgres schema and named SQL queries; used by the worker, the operator and potctl."""

from __future__ import annotations

import asyncpg

from pot_common.sql import load_sql

# Any constant works; it only has to be the same in every process that applies the schema.
_SCHEMA_LOCK_KEY = 0x504F54  # "POT"


def query(name: str) -> str:
    """The text of `queries/<name>.sql` (read once): SQL lives in files, not in scattered strings."""
    return load_sql(__name__, name)


# The schema's files beside this module, applied in this order: one per capability that owns tables
# of its own, so a new capability adds a file instead of growing one script.
SCHEMA_FILES = ("schema", "verification_schema")


def schema_sql() -> str:
    """The idempotent schema script: `schema.sql`, then the other SCHEMA_FILES beside this module."""
    return "\n".join(load_sql(__name__, name, folder="") for name in SCHEMA_FILES)


async def apply_schema(conn: asyncpg.Connection) -> None:
    """Create or complete the schema; safe to call from many processes at once.

    Concurrent `CREATE ... IF NOT EXISTS` races on Postgres' catalogs, so the script runs in one
    transaction behind an advisory lock.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK_KEY)
        await conn.execute(schema_sql())
