"""Fixtures for the transcript tests: the real S3 store (SeaweedFS) emptied per test, a sink that knows
only the canary mailbox's password, the canary secret in Vault, a seeded pool, and potctl as a
process."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from pot_common.db import apply_schema
from pot_stack.openbao import OpenBao
from pot_stack.s3_server import S3Server
from pot_stack.smtp_sink import SmtpSink
from pot_worker.config import WorkerSettings

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
USER = "canary-user"
PASSWORD = "canary-Pa55-c4f1e8b2"  # must appear in no object, in no form
VAULT_PATH = "pot/acme/mailboxes/canary"


def secret_forms() -> list[bytes]:
    """The canary as it could leak: plain, and base64 as AUTH PLAIN and LOGIN carry it."""
    forms = [PASSWORD, f"\0{USER}\0{PASSWORD}", USER]
    return [PASSWORD.encode()] + [base64.b64encode(f.encode()) for f in forms]


@pytest.fixture
def store(s3: S3Server) -> Iterator[S3Server]:
    """The session's S3 server, its bucket empty and without lifecycle rules before and after."""
    s3.clear()
    yield s3
    s3.clear()


@pytest.fixture(scope="module")
def canary_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    root = tmp_path_factory.mktemp("canary-sink")
    users = root / "users"
    users.write_text(f"{USER}:{PASSWORD}\n")
    server = SmtpSink(root, auth_file=users)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def canary_secret(vault: OpenBao) -> str:
    vault.put_secret(VAULT_PATH, {"username": USER, "password": PASSWORD})
    return f"vault:{VAULT_PATH}"


@pytest.fixture
async def db(fresh_database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(fresh_database)
    try:
        yield conn
    finally:
        await conn.close()


@dataclass
class Seed:
    pool_id: int
    campaign_id: int


async def seed(conn: asyncpg.Connection, sink: SmtpSink, creds: str | None, recipients: list[str]) -> Seed:
    """Pool acme/outreach, one STARTTLS mailbox on `sink` logging in with `creds`, a running campaign
    and one job per recipient, due at START."""
    await apply_schema(conn)
    pool_id = await conn.fetchval(
        "INSERT INTO pools (namespace, name) VALUES ('acme', 'outreach') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO mailboxes (pool_id, namespace, name, address, smtp_host, smtp_port, smtp_tls,"
        " credentials_ref, daily_cap, hourly_cap)"
        " VALUES ($1, 'acme', 'canary', 'canary@acme-outreach.test', $2, $3, 'starttls', $4, 1000, 1000)",
        pool_id,
        sink.host,
        sink.port,
        creds,
    )
    campaign_id = await conn.fetchval(
        "INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template,"
        " unsubscribe_url, state) VALUES ($1, 'acme', 'spring', 'acme', 'Hello', 'Hi {{ email }}',"
        " 'https://unsub.acme.test/u?e={{ email }}', 'running') RETURNING id",
        pool_id,
    )
    await conn.copy_records_to_table(
        "send_jobs",
        records=[(campaign_id, r, json.dumps({}), START) for r in recipients],
        columns=["campaign_id", "recipient", "variables", "next_attempt_at"],
    )
    return Seed(pool_id, campaign_id)


def worker_settings(
    db_url: str, redis_url: str, sink: SmtpSink, dns: Any, vault: OpenBao, **overrides: Any
) -> WorkerSettings:
    values: dict[str, Any] = {
        "pool": "acme/outreach",
        "database_url": db_url,
        "redis_url": redis_url,
        "metrics_port": 0,
        "batch_size": 20,
        "lanes": 1,
        "max_attempts": 3,
        "retry_base_seconds": 60,
        "retry_cap_seconds": 3600,
        "smtp_timeout_seconds": 5,
        "smtp_ca_file": str(sink.cert_path),
        "dns_resolver": dns.resolver,
        "vault_addr": vault.addr,
        "vault_token": vault.token,
    }
    values.update(overrides)
    return WorkerSettings.model_validate(values)


def transcripts_on(s3: S3Server) -> dict[str, Any]:
    """The worker settings that turn transcripts on against `s3` (its env, as `make up` exports it)."""
    return {key.removeprefix("POT_").lower(): value for key, value in s3.env().items()}


def potctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """potctl as a person runs it, with `env` on top of a clean POT_* environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("POT_")}
    return subprocess.run(
        [sys.executable, "-m", "potctl.main", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
