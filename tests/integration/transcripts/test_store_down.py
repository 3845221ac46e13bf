"""An object store that is down or hangs never slows or fails a send: transcripts queue up to the bound,
then are dropped and counted (pot_transcripts_total), and whatever is left at exit is counted too.

Real Postgres, Redis, DNS and the SMTP sink; the "store" is a closed port, then a socket that accepts
and never answers.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from pot_stack.service import free_port
from pot_stack.smtp_sink import SmtpSink
from pot_worker.clock import ManualClock
from pot_worker.runner import Worker
from prometheus_client import REGISTRY

from .conftest import START, seed, worker_settings

POOL = "acme/outreach"


def count(result: str) -> float:
    return REGISTRY.get_sample_value("pot_transcripts_total", {"pool": POOL, "result": result}) or 0.0


def store_at(port: int, **overrides: Any) -> dict[str, Any]:
    return {
        "transcripts_endpoint": f"http://127.0.0.1:{port}",
        "transcripts_access_key": "k",
        "transcripts_secret_key": "s",
        **overrides,
    }


@pytest.fixture
def black_hole() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP port that accepts connections and never answers; closed (and its connections) at the end."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        listener.close()
        for conn in accepted:
            conn.close()


async def test_a_down_store_drops_and_counts_transcripts_and_every_job_is_sent(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    canary_sink: SmtpSink,
    vault: Any,
    dns_server: Any,
) -> None:
    await seed(db, canary_sink, None, [f"ok-{i}@good.test" for i in range(10)])
    settings = worker_settings(
        fresh_database,
        fresh_redis,
        canary_sink,
        dns_server,
        vault,
        **store_at(free_port(), transcripts_queue_records=3),
    )
    worker = Worker(settings, clock=ManualClock(START))
    full, shutdown = count("dropped_full"), count("dropped_shutdown")
    await worker.start()
    try:
        assert await worker.run_once() == 10
        assert not await worker.archive.flush()  # refused: the batch stays, in order
    finally:
        await worker.close()
    assert await db.fetchval("SELECT count(*) FROM send_jobs WHERE state = 'sent'") == 10
    assert count("dropped_full") - full == 7 and count("dropped_shutdown") - shutdown == 3


async def test_a_store_that_hangs_does_not_hold_up_sending(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    canary_sink: SmtpSink,
    vault: Any,
    dns_server: Any,
    black_hole: tuple[int, list[socket.socket]],
) -> None:
    port, accepted = black_hole
    await seed(db, canary_sink, None, [f"ok-{i}@good.test" for i in range(20)])
    settings = worker_settings(
        fresh_database,
        fresh_redis,
        canary_sink,
        dns_server,
        vault,
        batch_size=10,
        batch_size_max=10,
        **store_at(port, transcripts_flush_seconds=0.05),
    )
    worker = Worker(settings, clock=ManualClock(START))
    await worker.start()
    try:
        assert await worker.run_once() == 10
        deadline = time.monotonic() + 10
        while not accepted and time.monotonic() < deadline:  # the upload is under way, and hangs
            await worker._sleep(0.05)
        assert accepted
        began = time.monotonic()
        assert await worker.run_once() == 10
        assert time.monotonic() - began < 3  # ten sends while the upload hangs
        assert worker.archive.waiting == 20
        for conn in accepted:  # the store goes away: the hung upload ends, the rest is dropped at exit
            conn.close()
    finally:
        await worker.close()
    assert await db.fetchval("SELECT count(*) FROM send_jobs WHERE state = 'sent'") == 20
