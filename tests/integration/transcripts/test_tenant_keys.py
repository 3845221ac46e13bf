"""A tenant's store user limited to its own prefix, as docs/transcripts.md ("Seeding each namespace's
keys") tells the admin to make one on SeaweedFS: `Write:<bucket>/acme/*`. acme's workers write their
transcripts with it; the same keys can neither write under another tenant's prefix nor read anything,
and a worker given them for another namespace reports the refusal as reason="keys", never failing.

Real SeaweedFS (a second server, with that identity added to the stack's one), OpenBao, Postgres,
Redis, DNS and the SMTP sink; the worker in-process.
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from minio import Minio
from minio.error import S3Error
from pot_stack.s3_server import REGION, S3Server
from pot_stack.smtp_sink import SmtpSink
from pot_worker.archive import Archive
from pot_worker.clock import ManualClock
from pot_worker.runner import Worker
from prometheus_client import REGISTRY

from .conftest import START, seed, worker_settings


class TenantStore(S3Server):
    """SeaweedFS with the stack's admin identity and acme's, which may only write under acme/."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.acme_key, self.acme_secret = f"acme-{secrets.token_hex(6)}", secrets.token_hex(20)

    def _identities(self) -> Path:
        path = super()._identities()
        config = json.loads(path.read_text())
        config["identities"].append(
            {
                "name": "acme-transcripts",
                "credentials": [{"accessKey": self.acme_key, "secretKey": self.acme_secret}],
                "actions": [f"Write:{self.bucket}/acme/*"],
            }
        )
        path.write_text(json.dumps(config))  # the file stays 0600
        return path

    def as_acme(self) -> Minio:
        return Minio(
            f"127.0.0.1:{self.port}",
            access_key=self.acme_key,
            secret_key=self.acme_secret,
            secure=False,
            region=REGION,
        )


@pytest.fixture(scope="module")
def tenant_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TenantStore]:
    server = TenantStore(tmp_path_factory.mktemp("tenant-s3"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def refused(call: Any) -> str:
    try:
        call()
    except S3Error as exc:
        return str(exc.code)
    return "allowed"


async def test_a_tenants_keys_write_its_own_prefix_and_nothing_else(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    canary_sink: SmtpSink,
    vault: Any,
    dns_server: Any,
    tenant_store: TenantStore,
) -> None:
    store = tenant_store
    vault.put_secret("pot/acme/transcripts", {"access_key": store.acme_key, "secret_key": store.acme_secret})
    await seed(db, canary_sink, None, ["ok-1@good.test", "ok-2@good.test"])
    cluster = {
        "transcripts_endpoint": store.endpoint,
        "transcripts_bucket": store.bucket,
        "transcripts_vault_path": "transcripts",
    }
    settings = worker_settings(fresh_database, fresh_redis, canary_sink, dns_server, vault, **cluster)
    worker = Worker(settings, clock=ManualClock(START))
    await worker.start()
    try:
        assert await worker.run_once() == 2
        assert await worker.archive.flush() and worker.archive.written == 2
    finally:
        await worker.close()
    (key,) = store.objects("acme/")
    assert key.startswith("acme/outreach/")

    # acme's keys: nothing outside acme/, and no reading at all (potctl reads with the admin's keys).
    acme = store.as_acme()
    assert refused(lambda: acme.put_object(store.bucket, "evil/grab/x.jsonl.gz", io.BytesIO(b"x"), 1)) == (
        "AccessDenied"
    )
    assert refused(lambda: acme.get_object(store.bucket, key)) == "AccessDenied"
    assert refused(lambda: list(acme.list_objects(store.bucket, prefix="acme/", recursive=True))) == (
        "AccessDenied"
    )
    assert set(store.objects()) == {key}

    # A worker of another namespace handed acme's keys: refused, reported as the keys, nothing raised.
    other = worker_settings(
        fresh_database,
        fresh_redis,
        canary_sink,
        dns_server,
        vault,
        pool="evil/grab",
        transcripts_endpoint=store.endpoint,
        transcripts_bucket=store.bucket,
        transcripts_access_key=store.acme_key,
        transcripts_secret_key=store.acme_secret,
    )
    archive = Archive(other, None)
    archive.add({"job": 1, "attempt": 1, "at": START.timestamp(), "lines": []})
    assert not await archive.flush()
    gauge = {"pool": "evil/grab", "reason": "keys"}
    assert REGISTRY.get_sample_value("pot_transcripts_unavailable", gauge) == 1
    assert archive.keys_missing and archive.waiting == 1
    await archive.close(seconds=0.5)
    assert set(store.objects()) == {key}
