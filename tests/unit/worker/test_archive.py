"""The transcript archive off the hot path: keys, encoding, the bounded queue, retries in order, the
drop at shutdown (pot_worker.archive, with the object store answered in memory; the real store is in
tests/integration/transcripts)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pot_common.backoff import Backoff
from pot_common.config import load_settings
from pot_worker.archive import Archive, ArchiveUnavailable, batch_key, encode
from pot_worker.config import WorkerSettings
from prometheus_client import REGISTRY
from pydantic import ValidationError

T0 = datetime(2026, 3, 2, 23, 59, 58, tzinfo=UTC).timestamp()
BASE = {"POT_POOL": "acme/outreach", "POT_DATABASE_URL": "postgresql://x/y", "POT_REDIS_URL": "redis://r/0"}
ON = {
    **BASE,
    "POT_TRANSCRIPTS_ENDPOINT": "http://127.0.0.1:9",
    "POT_TRANSCRIPTS_ACCESS_KEY": "k",
    "POT_TRANSCRIPTS_SECRET_KEY": "s",
}


def record(job: int, at: float = T0) -> dict[str, Any]:
    return {"job": job, "attempt": 1, "at": at, "lines": [[at, ">", "QUIT"]]}


def settings(**env: str) -> WorkerSettings:
    return load_settings(WorkerSettings, {**ON, **env})


def count(pool: str, result: str) -> float:
    return REGISTRY.get_sample_value("pot_transcripts_total", {"pool": pool, "result": result}) or 0.0


def test_a_key_names_tenant_pool_day_times_and_job_range() -> None:
    records = [record(42, T0), record(7, T0 + 1), record(19, T0 + 3)]  # the last one is past midnight
    key = batch_key("acme", "outreach", "host/1:x", 3, records)
    assert key == "acme/outreach/2026-03-02/235958-000001-7-42-host_1_x-000003.jsonl.gz"


def test_a_batch_is_gzip_json_lines_and_the_same_records_give_the_same_bytes() -> None:
    records = [record(1), record(2)]
    data = encode(records)
    assert [json.loads(line) for line in gzip.decompress(data).splitlines()] == records
    assert encode(records) == data


def test_transcripts_are_off_unless_an_endpoint_is_set_and_then_need_keys() -> None:
    assert load_settings(WorkerSettings, BASE).transcripts_endpoint is None
    assert not Archive(load_settings(WorkerSettings, BASE), None).enabled
    with pytest.raises(ValidationError, match="POT_TRANSCRIPTS_ACCESS_KEY"):
        load_settings(WorkerSettings, {**BASE, "POT_TRANSCRIPTS_ENDPOINT": "http://s3.test"})
    with pytest.raises(ValidationError, match="without a path"):
        settings(POT_TRANSCRIPTS_ENDPOINT="http://s3.test/bucket")
    s = settings(POT_TRANSCRIPTS_SECRET_KEY="canary-s3-secret")
    assert s.transcripts_secret_key is not None and "canary-s3-secret" not in repr(s)
    vault_only = load_settings(
        WorkerSettings,
        {**BASE, "POT_TRANSCRIPTS_ENDPOINT": "https://s3.test", "POT_TRANSCRIPTS_VAULT_PATH": "transcripts"},
    )
    assert vault_only.transcripts_vault_path == "transcripts"


class FakeStore:
    """put_object answers from a list: an exception is raised, anything else is success."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.puts: list[tuple[str, bytes]] = []

    def put_object(self, bucket: str, key: str, data: Any, length: int, content_type: str) -> None:
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        self.puts.append((key, data.read()))


def archive_with(store: FakeStore, **env: str) -> Archive:
    archive = Archive(settings(**env), None, Backoff(0.01, 0.01))

    async def client() -> Any:
        return store

    archive._store = client  # type: ignore[method-assign]
    return archive


async def test_a_full_queue_drops_and_counts_instead_of_waiting() -> None:
    pool = "acme/full"
    archive = archive_with(FakeStore(), POT_POOL=pool, POT_TRANSCRIPTS_QUEUE_RECORDS="3")
    before = count(pool, "dropped_full")
    for job in range(5):
        archive.add(record(job))
    assert archive.waiting == 3 and count(pool, "dropped_full") - before == 2


async def test_a_failed_upload_is_retried_first_and_nothing_is_lost_or_reordered() -> None:
    pool = "acme/retry"
    store = FakeStore(ArchiveUnavailable("down"), None, None)
    archive = archive_with(store, POT_POOL=pool)
    written = count(pool, "written")
    archive.add(record(1))
    assert not await archive.flush()  # the store is away: the batch stays
    archive.add(record(2))
    assert archive.waiting == 2
    assert await archive.flush()
    keys = [key for key, _ in store.puts]
    assert len(keys) == 2 and keys[0].endswith("-1-1-" + archive.settings.worker_id + "-000001.jsonl.gz")
    assert [json.loads(gzip.decompress(body))["job"] for _, body in store.puts] == [1, 2]
    assert archive.waiting == 0 and count(pool, "written") - written == 2


async def test_closing_writes_what_is_left_or_drops_and_counts_it() -> None:
    pool = "acme/close"
    store = FakeStore(*[ArchiveUnavailable("down")] * 1000)
    archive = archive_with(store, POT_POOL=pool)
    before = count(pool, "dropped_shutdown")
    archive.add(record(1))
    archive.add(record(2))
    await archive.close(seconds=0.2)
    assert archive.waiting == 0 and count(pool, "dropped_shutdown") - before == 2

    fine = archive_with(FakeStore(), POT_POOL=pool)
    fine.add(record(3))
    await fine.close(seconds=1)
    assert fine.waiting == 0
