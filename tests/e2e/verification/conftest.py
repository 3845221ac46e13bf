"""Fixtures for the verification e2e tests: the probe server (the MX hosts of *.probe.test), a database
with POT's schema, and the job runner (pot_stack.job_runner) whose environment is the cluster's network:
its POT_SMTP_PROBE_PORT reaches the probe server, whatever the test's own process can reach."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pot_common.db import apply_schema
from pot_stack.job_runner import JobRunnerService
from pot_stack.probe_server import ProbeServer
from pot_stack.service import free_port

# Who exists on the probe server (tests/stack/pot_stack/zones/checks-probe.zone has the domains).
USERS = {"acme.probe.test": {"alice", "bob"}, "globex.probe.test": {"carol"}}


@pytest.fixture
def probe_server() -> Iterator[ProbeServer]:
    server = ProbeServer(users=USERS, catch_all_domains={"catchall.probe.test"}).start()
    yield server
    server.stop()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: the laptop whose outbound port 25 is blocked."""
    return free_port()


@pytest.fixture
def database(fresh_database: str) -> str:
    async def setup() -> None:
        conn = await asyncpg.connect(fresh_database)
        try:
            await apply_schema(conn)
        finally:
            await conn.close()

    asyncio.run(setup())
    return fresh_database


def start_job_runner(
    root: Path, kube: Any, database: str, dns_server: Any, probe_port: int
) -> JobRunnerService:
    runner = JobRunnerService(
        root,
        {
            "KUBECONFIG": str(kube.admin_kubeconfig),
            "POT_DATABASE_URL": database,
            "POT_DNS_RESOLVER": dns_server.resolver,
            "POT_SMTP_PROBE_PORT": str(probe_port),
        },
    )
    runner.start()
    return runner


@pytest.fixture
def job_runner(kube, database, dns_server, probe_server, tmp_path) -> Iterator[JobRunnerService]:  # type: ignore[no-untyped-def]
    runner = start_job_runner(tmp_path / "jobs", kube, database, dns_server, probe_server.port)
    yield runner
    runner.stop()
