"""POT's Postgres schema and named SQL queries; used by the worker, the operator and potctl."""

from __future__ import annotations

from functools import cache
from importlib import resources

import asyncpg

# Any constant works; it only has to be the same in every process that applies the schema.
_SCHEMA_LOCK_KEY = 0x504F54  # "POT"


@cache
def query(name: str) -> str:
    """The text of `queries/<name>.sql`; SQL lives in files, not scattered strings (STYLE.md 10)."""
    return resources.files(__package__).joinpath("queries", f"{name}.sql").read_text(encoding="utf-8")


def schema_sql() -> str:
    """The idempotent schema script."""
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


async def apply_schema(conn: asyncpg.Connection) -> None:
    """Create or complete the schema; safe to call from many processes at once.

    Concurrent `CREATE ... IF NOT EXISTS` races on Postgres' catalogs, so the script runs in one
    transaction behind an advisory lock.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK_KEY)
        await conn.execute(schema_sql())
