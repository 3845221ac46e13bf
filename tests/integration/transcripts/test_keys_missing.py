"""A namespace whose store keys were never written (or a worker without Vault) sends every job as fast as
with transcripts off: at most one batch of transcripts is held for when the keys come, the rest is
dropped and counted, pot_transcripts_unavailable{reason="keys"} says why, and closing waits for nothing.
Writing the keys later brings transcripts back with the held batch.

Real Postgres, Redis, OpenBao, DNS, the SMTP sink and SeaweedFS; the worker in-process.
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import pytest
from pot_stack.s3_server import S3Server
from pot_stack.smtp_sink import SmtpSink
from pot_worker.clock import ManualClock
from pot_worker.runner import Worker
from prometheus_client import REGISTRY

from .conftest import START, seed, transcripts_on, worker_settings

POOL = "acme/outreach"
BATCH = 20


def count(result: str) -> float:
    return REGISTRY.get_sample_value("pot_transcripts_total", {"pool": POOL, "result": result}) or 0.0


def unavailable(reason: str) -> float | None:
    return REGISTRY.get_sample_value("pot_transcripts_unavailable", {"pool": POOL, "reason": reason})


def store_without_keys(store: S3Server) -> dict[str, Any]:
    """The store as the operator passes it in a cluster: endpoint, bucket, region and a Vault path."""
    on = {k: v for k, v in transcripts_on(store).items() if not k.endswith(("_access_key", "_secret_key"))}
    return {**on, "transcripts_vault_path": "transcripts"}


async def timed_round(worker: Worker) -> float:
    began = time.monotonic()
    assert await worker.run_once() == BATCH
    return time.monotonic() - began


@pytest.mark.parametrize("vault_addr", ["openbao", None], ids=["keys-unwritten", "no-vault"])
async def test_unwritten_keys_cost_transcripts_never_sends(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    canary_sink: SmtpSink,
    vault: Any,
    dns_server: Any,
    store: S3Server,
    vault_addr: str | None,
) -> None:
    await seed(db, canary_sink, None, [f"ok-{i}@good.test" for i in range(4 * BATCH)])
    common = {"batch_size": BATCH, "batch_size_max": BATCH}
    kv = vault.client().secrets.kv.v2
    kv.delete_metadata_and_all_versions("pot/acme/transcripts", mount_point="secret")  # another test's

    # The same sends with transcripts off first: the figure "full speed" is held to.
    off_settings = worker_settings(fresh_database, fresh_redis, canary_sink, dns_server, vault, **common)
    off = Worker(off_settings, clock=ManualClock(START))
    await off.start()
    try:
        baseline = min([await timed_round(off), await timed_round(off)])
    finally:
        await off.close()

    settings = worker_settings(
        fresh_database,
        fresh_redis,
        canary_sink,
        dns_server,
        vault,
        transcripts_flush_seconds=0.05,
        transcripts_batch_records=5,  # the most held while the keys are missing
        **{**common, **store_without_keys(store)},
        **({"vault_addr": None, "vault_token": None} if vault_addr is None else {}),
    )
    worker = Worker(settings, clock=ManualClock(START))
    no_keys, shutdown, written = count("dropped_no_keys"), count("dropped_shutdown"), count("written")
    await worker.start()
    closed_in, held = 0.0, 0
    try:
        first = await timed_round(worker)  # the archive reads the keys in the background meanwhile
        deadline = time.monotonic() + 10
        while unavailable("keys") != 1 and time.monotonic() < deadline:
            await worker._sleep(0.05)
        assert unavailable("keys") == 1 and unavailable("store") == 0 and unavailable("vault") == 0
        second = await timed_round(worker)  # the keys are known missing: every transcript dropped
        assert max(first, second) < baseline * 3 + 1.0, (first, second, baseline)
        # What came before the keys were known missing, or one batch (5), is held for when they come;
        # every other transcript is dropped and counted, the whole second round's at least.
        held = worker.archive.waiting
        assert 5 <= held <= BATCH and count("dropped_no_keys") - no_keys == 2 * BATCH - held
        if vault_addr is not None:
            # The admin writes the namespace's keys: the held batch is written, the gauge goes back.
            vault.put_secret(
                "pot/acme/transcripts", {"access_key": store.access_key, "secret_key": store.secret_key}
            )
            assert await worker.archive.flush()
            assert count("written") - written == held and unavailable("keys") == 0
            assert {tuple(key.split("/")[:2]) for key in store.objects()} == {("acme", "outreach")}
    finally:
        began = time.monotonic()
        await worker.close()
        closed_in = time.monotonic() - began
    assert await db.fetchval("SELECT count(*) FROM send_jobs WHERE state = 'sent'") == 4 * BATCH
    if vault_addr is None:
        assert count("dropped_shutdown") - shutdown == held and count("written") == written
        assert closed_in < 2  # without keys closing waits for nothing
