"""Postgres, Redis and OpenBao of the local stack answer, keep their ports across restarts, isolate tests."""

from __future__ import annotations

import asyncpg
import hvac
import pytest
import redis
import redis.asyncio
from pot_stack.openbao import OpenBao
from pot_stack.postgres import Postgres
from pot_stack.redis_server import RedisServer


async def test_postgres_answers_a_query_with_test_settings(postgres: Postgres) -> None:
    conn = await asyncpg.connect(postgres.url)
    try:
        assert await conn.fetchval("SELECT 40 + 2") == 42
        assert await conn.fetchval("SHOW fsync") == "off"
        assert await conn.fetchval("SHOW max_connections") == "300"
    finally:
        await conn.close()
    assert postgres.env() == {"POT_DATABASE_URL": postgres.url}
    assert postgres.url.startswith("postgresql://postgres@127.0.0.1:")


async def test_fresh_database_is_empty_and_separate(fresh_database: str, postgres: Postgres) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        await conn.execute("CREATE TABLE only_here (id int)")
        tables = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables == 1
    finally:
        await conn.close()
    main = await asyncpg.connect(postgres.url)
    try:
        assert await main.fetchval("SELECT to_regclass('public.only_here')") is None
    finally:
        await main.close()


async def test_postgres_restart_keeps_port_and_data(postgres: Postgres, fresh_database: str) -> None:
    port = postgres.port
    conn = await asyncpg.connect(fresh_database)
    await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
    postgres.restart()
    # The old connection saw the outage...
    with pytest.raises((asyncpg.PostgresError, ConnectionError, OSError, asyncpg.InterfaceError)):
        await conn.fetchval("SELECT 1")
    conn.terminate()
    # ...and a new one finds the same server on the same port, with the data.
    assert postgres.port == port
    again = await asyncpg.connect(fresh_database)
    try:
        assert await again.fetchval("SELECT v FROM kept") == "still here"
    finally:
        await again.close()


def test_redis_answers_ping_and_restart_keeps_port_but_not_data(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    assert client.ping() is True
    client.set("pot:test:key", "v")
    port = redis_server.port
    redis_server.restart()
    assert redis_server.port == port
    assert client.get("pot:test:key") is None  # no persistence: a restart is a data loss, like a crash
    client.close()


@pytest.mark.parametrize("round_", [1, 2])
async def test_fresh_redis_is_empty_even_after_a_test_wrote(fresh_redis: str, round_: int) -> None:
    # Round 2 finds round 1's key unless the fixture flushed in between.
    client = redis.asyncio.Redis.from_url(fresh_redis)
    try:
        assert await client.dbsize() == 0
        await client.set(f"written-in-round-{round_}", "1")
    finally:
        await client.aclose()


def test_vault_kv2_write_then_read(vault: OpenBao) -> None:
    client: hvac.Client = vault.client()
    assert client.is_authenticated()
    client.secrets.kv.v2.create_or_update_secret(
        path="pot/test/mailbox", secret={"username": "a@acme-mail.test", "password": "s3cret"}
    )
    read = client.secrets.kv.v2.read_secret_version(path="pot/test/mailbox", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"username": "a@acme-mail.test", "password": "s3cret"}
    assert client.sys.list_mounted_secrets_engines()["secret/"]["options"]["version"] == "2"
    assert vault.env()["POT_VAULT_ADDR"] == vault.addr


def test_vault_rejects_a_wrong_token(vault: OpenBao) -> None:
    client = hvac.Client(url=vault.addr, token="not-the-token")
    assert not client.is_authenticated()


def test_vault_root_token_never_reaches_the_log(vault: OpenBao) -> None:
    vault.client().sys.read_health_status(method="GET")
    assert vault.token not in vault.log_path.read_text()
