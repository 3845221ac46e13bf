"""Fixtures for the unsubscribe endpoint's integration tests: `pot-unsubscribe` as a real process on a
free port, against the stack's Postgres (as the least-privileged `pot_unsubscribe` role) and OpenBao."""

from __future__ import annotations

import asyncio
import secrets
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from pot_common.db import apply_schema
from pot_common.sql import load_sql
from pot_common.unsubscribe import make_token
from pot_stack.openbao import OpenBao
from pot_stack.service import Service, free_port, wait_until


def as_role(url: str, role: str) -> str:
    """The same database, connected as `role` (the test server trusts loopback)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))


class Endpoint(Service):
    """`pot-unsubscribe` with these settings; `.url`, `.metrics_url`, `.log_text()`."""

    name = "unsubscribe"

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        super().__init__(root)
        self.port, self.metrics_port = free_port(), free_port()
        self.app_env = {**env, "POT_LISTEN_PORT": str(self.port), "POT_METRICS_PORT": str(self.metrics_port)}
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> None:
        self.spawn([sys.executable, "-m", "pot_unsubscribe.cli"], env=self.app_env)
        wait_until(
            lambda: httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200,
            timeout=30,
            what="pot-unsubscribe",
            log=self.log_path,
        )

    def env(self) -> dict[str, str]:
        return {}

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def counter(self, result: str) -> float:
        for line in httpx.get(self.metrics_url, timeout=5).text.splitlines():
            if line.startswith(f'pot_unsubscribe_requests_total{{result="{result}"}}'):
                return float(line.split()[-1])
        raise AssertionError(f"no pot_unsubscribe_requests_total series for result={result}")


@dataclass
class Tenant:
    name: str
    key: bytes

    def token(self, address: str, campaign: str = "spring") -> str:
        return make_token(self.key, self.name, campaign, address)


def put_key(vault: OpenBao, tenant: str) -> Tenant:
    key = secrets.token_urlsafe(48)
    vault.put_secret(f"pot/{tenant}/unsubscribe", {"key": key})
    return Tenant(tenant, key.encode())


def prepare_database(url: str) -> str:
    """The schema and the role, applied by the database's owner (twice: both are idempotent); returns
    the URL as `pot_unsubscribe`."""

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await apply_schema(conn)
            for _ in range(2):
                await conn.execute(load_sql("pot_common.db", "unsubscribe_role", folder=""))
        finally:
            await conn.close()

    asyncio.run(run())
    return as_role(url, "pot_unsubscribe")


@pytest.fixture
def start_endpoint(tmp_path: Path) -> Iterator[Callable[..., Endpoint]]:
    started: list[Endpoint] = []

    def start(env: dict[str, str]) -> Endpoint:
        endpoint = Endpoint(tmp_path / f"e{len(started)}", env)
        started.append(endpoint)
        endpoint.start()
        return endpoint

    yield start
    for endpoint in started:
        endpoint.stop()


@pytest.fixture
def tenants(vault: OpenBao) -> tuple[Tenant, Tenant]:
    """Two tenants of our own (names no other test uses), each with its key in its Vault folder."""
    uid = uuid.uuid4().hex[:6]
    return put_key(vault, f"acme-{uid}"), put_key(vault, f"globex-{uid}")
