"""Fixtures for the verification integration tests: a database with POT's schema and the operator's
tables, the probe server (the MX hosts of *.probe.test) and a resolver for the test zones."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from pot_common.db import apply_schema
from pot_deliverability.dns import DnsResolver
from pot_stack.probe_server import ProbeServer

USERS = {"acme.probe.test": {"alice", "bob"}, "globex.probe.test": {"carol"}}


@pytest.fixture
def probe_server() -> Iterator[ProbeServer]:
    server = ProbeServer(users=USERS, catch_all_domains={"catchall.probe.test"}).start()
    yield server
    server.stop()


@pytest.fixture
def resolver(dns_server: Any) -> DnsResolver:
    return DnsResolver(dns_server.resolver)


@pytest.fixture
def database(fresh_database: str) -> str:
    from pot_operator import db

    async def setup() -> None:
        conn = await asyncpg.connect(fresh_database)
        try:
            await apply_schema(conn)
            await conn.execute(db.sql("schema"))
        finally:
            await conn.close()

    asyncio.run(setup())
    return fresh_database
