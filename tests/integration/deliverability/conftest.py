"""Fixtures for the deliverability integration tests: RCPT probe server, fake chat APIs, a resolver, a
database with POT's schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pot_deliverability.dns import DnsResolver
from pot_stack.probe_server import ProbeServer

# Who exists on the probe server (see tests/stack/pot_stack/zones/checks-probe.zone for the domains).
USERS = {"acme.probe.test": {"alice", "bob", "info", "grey"}, "globex.probe.test": {"carol"}}


@pytest.fixture
def probe_server() -> Iterator[ProbeServer]:
    server = ProbeServer(
        users=USERS, catch_all_domains={"catchall.probe.test"}, greylist={"grey@acme.probe.test"}
    ).start()
    yield server
    server.stop()


@pytest.fixture
def resolver(dns_server: Any) -> DnsResolver:
    return DnsResolver(dns_server.resolver)


@pytest.fixture
def fake_chat() -> Iterator[Any]:
    from pot_stack.fake_chat import FakeChat

    chat = FakeChat(telegram_tokens={"123:test-token"}, slack_hooks={"/services/T000/B000/XXXX"}).start()
    yield chat
    chat.stop()


@pytest.fixture
def database(fresh_database: str) -> str:
    """A fresh database with POT's schema, for the potctl commands that write to Postgres."""
    import asyncio

    import asyncpg
    from pot_common.db import apply_schema

    async def setup() -> None:
        conn = await asyncpg.connect(fresh_database)
        try:
            await apply_schema(conn)
        finally:
            await conn.close()

    asyncio.run(setup())
    return fresh_database
