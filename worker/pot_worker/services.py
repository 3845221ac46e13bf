"""Connections to Postgres and Redis and the errors that mean one is away; used by the store, runner, cli.

Those errors are retried with a delay, never a reason to drop a job.
"""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis
import redis.exceptions
from pot_common.backoff import Backoff
from redis.asyncio.retry import Retry
from redis.backoff import AbstractBackoff

from pot_worker.config import WorkerSettings

PG_ERRORS = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError, asyncpg.CannotConnectNowError)
# The above plus a statement Postgres refused (a deadlock, a restart in the middle of a transaction).
PG_FAILURES = (*PG_ERRORS, asyncpg.PostgresError)
REDIS_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)


async def _no_session_state(conn: asyncpg.Connection) -> None:
    """The pool's reset on release. asyncpg's default runs `SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL` after every use: one more round trip per statement, for session state the
    worker never creates (no advisory locks, cursors, LISTEN or SET). asyncpg still rolls back an open
    transaction before calling this."""


async def postgres_pool(settings: WorkerSettings) -> asyncpg.Pool:
    """One connection per lane plus two for the heartbeat and the refresh."""
    return await asyncpg.create_pool(
        settings.database_url,
        min_size=1,
        max_size=settings.lanes + 2,
        command_timeout=30,
        reset=_no_session_state,
    )


class _RedisBackoff(AbstractBackoff):
    """redis-py's retry schedule taken from pot_common.backoff (redis-py counts `failures` from 1)."""

    def __init__(self, backoff: Backoff) -> None:
        self._backoff = backoff

    def compute(self, failures: int) -> float:
        return self._backoff.delay(failures)


def redis_client(url: str, backoff: Backoff) -> aioredis.Redis:
    """The Redis client holding the limit counters: a command that lost its connection is retried three
    times, waiting as `backoff` says. Retrying a reservation whose reply was lost can only count it twice
    (too strict, never over a cap)."""
    return aioredis.from_url(
        url,
        socket_timeout=10,
        socket_connect_timeout=5,
        max_connections=64,
        retry=Retry(_RedisBackoff(backoff), 3),
        retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
    )
