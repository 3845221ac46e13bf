"""Fixtures for the worker's integration tests: a private SMTP sink, seeded pools, an in-process Worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pot_common.db import apply_schema
from pot_stack.smtp_sink import SmtpSink
from pot_worker.clock import ManualClock
from pot_worker.config import WorkerSettings
from pot_worker.runner import Worker

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    """A sink of our own (slow-* answers after 0.3 s) so other tests' mail never mixes with ours."""
    root = tmp_path_factory.mktemp("worker-sink")
    server = SmtpSink(root, slow_delay=0.3)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def strict_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    """A sink that accepts only `good-user:good-password` (535 5.7.8 otherwise)."""
    root = tmp_path_factory.mktemp("worker-strict-sink")
    auth = root / "users"
    auth.write_text("good-user:good-password\n")
    server = SmtpSink(root, auth_file=auth)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Seed:
    """Rows created for a test; ids to refer to them."""

    pool_id: int
    mailbox_ids: list[int] = field(default_factory=list)
    campaign_ids: list[int] = field(default_factory=list)


async def seed_pool(
    conn: asyncpg.Connection,
    *,
    domain_hourly: int | None = None,
    paused: bool = False,
    namespace: str = "acme",
    name: str = "outreach",
    **window: Any,
) -> Seed:
    await apply_schema(conn)
    pool_id = await conn.fetchval(
        "INSERT INTO pools (namespace, name, domain_hourly_limit, paused, window_start, window_end,"
        " time_zone)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        namespace,
        name,
        domain_hourly,
        paused,
        window.get("start"),
        window.get("end"),
        window.get("tz", "UTC"),
    )
    return Seed(pool_id)


async def add_mailbox(
    conn: asyncpg.Connection,
    seed: Seed,
    sink: SmtpSink,
    *,
    name: str,
    daily: int = 1000,
    hourly: int = 1000,
    spacing: int = 0,
    tls: str = "starttls",
    creds: str | None = None,
    state: str = "active",
) -> int:
    port = sink.tls_port if tls == "implicit" else sink.port
    mid = await conn.fetchval(
        "INSERT INTO mailboxes (pool_id, namespace, name, address, display_name, smtp_host, smtp_port,"
        " smtp_tls,"
        " credentials_ref, daily_cap, hourly_cap, min_spacing_seconds, state)"
        " VALUES ($1, 'acme', $2, $3, 'Acme', $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        seed.pool_id,
        name,
        f"{name}@acme-outreach.test",
        sink.host,
        port,
        tls,
        creds,
        daily,
        hourly,
        spacing,
        state,
    )
    seed.mailbox_ids.append(mid)
    return int(mid)


async def add_campaign(
    conn: asyncpg.Connection,
    seed: Seed,
    *,
    name: str = "spring",
    tenant: str = "acme",
    daily: int | None = None,
    hourly: int | None = None,
    subject: str = "Hello {{ first_name }}",
) -> int:
    cid = await conn.fetchval(
        "INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template,"
        " html_template, daily_limit, hourly_limit, unsubscribe_url, unsubscribe_mailto, state)"
        " VALUES ($1, 'acme', $2, $3, $4, 'Hi {{ first_name }}', '<p>Hi {{ first_name }}</p>', $5, $6,"
        " 'https://unsub.acme.test/u?e={{ email }}', 'unsub@acme.test', 'running') RETURNING id",
        seed.pool_id,
        name,
        tenant,
        subject,
        daily,
        hourly,
    )
    seed.campaign_ids.append(cid)
    return int(cid)


async def add_jobs(
    conn: asyncpg.Connection,
    campaign_id: int,
    recipients: list[str],
    variables: dict[str, Any] | None = None,
    due: datetime = START,
) -> None:
    import json

    await conn.copy_records_to_table(
        "send_jobs",
        records=[
            (campaign_id, r, json.dumps(variables or {"first_name": r.split("@")[0]}), due)
            for r in recipients
        ],
        columns=["campaign_id", "recipient", "variables", "next_attempt_at"],
    )


def settings(db_url: str, redis_url: str, **overrides: Any) -> WorkerSettings:
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
        "breaker_threshold": 1000,
        "smtp_timeout_seconds": 5,
    }
    values.update(overrides)
    return WorkerSettings.model_validate(values)


@pytest.fixture
async def db(fresh_database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(fresh_database)
    try:
        yield conn
    finally:
        await conn.close()


async def drain(worker: Worker, clock: ManualClock, *, rounds: int = 50, step: float = 3600.0) -> None:
    """Run batches until nothing is due, moving the clock forward past every retry."""
    for _ in range(rounds):
        while await worker.run_once():
            pass
        clock.advance(step)
        await asyncio.sleep(0)


def sink_ca(sink: SmtpSink) -> str:
    return str(Path(sink.cert_path))
