"""The checker Job runs as the workers' Postgres role (its Deployment's database Secret is the workers'):
common/pot_common/db/worker_role.sql must grant what potctl.email_job reads and writes, and no more."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from pot_common.sql import load_sql
from pot_deliverability.emailcheck import CheckerSettings
from potctl.email_job import run_job


async def test_the_checker_job_runs_as_the_worker_role(
    database: str, probe_server: Any, resolver: Any
) -> None:
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(load_sql("pot_common.db", "worker_role", folder=""))
        await conn.execute("ALTER ROLE pot_worker PASSWORD 'checker-test'")
        run_id = await conn.fetchval(
            "INSERT INTO verification_runs (tenant, owner, mode, max_age, total)"
            " VALUES ('acme', 'test', 'smtp', '1 hour', 1) RETURNING id"
        )
        await conn.execute(
            "INSERT INTO verification_run_addresses VALUES ($1, 1, 'nobody@acme.probe.test')", run_id
        )
        url = urlsplit(database)
        worker_url = url._replace(netloc=f"pot_worker:checker-test@{url.hostname}:{url.port}").geturl()
        settings = CheckerSettings(probe_port=probe_server.port, allow_test_domains=True)
        assert await run_job(worker_url, run_id, settings, resolver) == 0
        row = await conn.fetchrow("SELECT verdict FROM verification_results WHERE tenant = 'acme'")
        assert row["verdict"] == "invalid"
        # Never granted: the imported lists with their private columns.
        worker = await asyncpg.connect(worker_url)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await worker.fetch("SELECT * FROM recipients")
        finally:
            await worker.close()
    finally:
        await conn.close()
