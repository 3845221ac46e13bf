"""SMTP transcripts to S3-compatible object storage in the background; the dispatcher adds, the runner runs.

Off unless POT_TRANSCRIPTS_ENDPOINT is set. `add()` is all a send pays: it appends one record (one job
attempt: who, what became of it, and its tape) to a list, or drops it and counts it when
`transcripts_queue_records` are already waiting. A background task seals the list every
`transcripts_flush_seconds` (sooner when `transcripts_batch_records` are waiting) and writes each
sealed batch as one gzip-compressed JSON-lines object, encoded and uploaded in a thread. An upload
that fails is retried with a backoff, in order, while new records queue behind it up to the bound:
a slow or down store never slows or fails a send, it only costs transcripts (pot_transcripts_total
{result="dropped_full"}). On close the worker flushes what it can within a few seconds.

Object key: `<namespace>/<pool>/<date>/<first>-<last>-<min job>-<max job>-<worker>-<seq>.jsonl.gz`
(the times HHMMSS of the first and last record, by the worker's clock, UTC), so `potctl transcript`
finds a job from its pool, its attempts' times and its id without an index (docs/transcripts.md).
Retention is the bucket's lifecycle rules, per tenant or pool prefix (`potctl transcripts retention`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import MinioException
from pot_common.backoff import Backoff
from pot_common.vault import VaultError, VaultKV, tenant_path

from pot_worker import metrics
from pot_worker.config import WorkerSettings

log = logging.getLogger("pot_worker")

UPLOAD_BACKOFF = (1.0, 30.0)  # base, cap in seconds between tries of a failed upload (full jitter)
CLOSE_SECONDS = 5.0  # how long close() keeps trying to write what is left
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
# One encoder for every record: json.dumps with arguments builds a new one per call, and ASCII output
# (non-ASCII as \u escapes) takes the C encoder's fast path, less than half the time per record.
_JSON = json.JSONEncoder(separators=(",", ":")).encode


class ArchiveUnavailable(Exception):
    """The store or its credentials cannot be reached now (temporary; the batch is retried)."""


@dataclass
class Batch:
    """Sealed records with their key; `data` is encoded once, on the first upload try."""

    key: str
    records: list[dict[str, Any]]
    data: bytes | None = None


@dataclass
class _Queue:
    pending: list[dict[str, Any]] = field(default_factory=list)
    sealed: deque[Batch] = field(default_factory=deque)
    waiting: int = 0  # records in pending + sealed


def batch_key(namespace: str, pool: str, worker: str, seq: int, records: list[dict[str, Any]]) -> str:
    """The object key of a batch (pure); `records` carry `at` (epoch seconds) and `job`."""
    first = datetime.fromtimestamp(records[0]["at"], UTC)
    last = datetime.fromtimestamp(records[-1]["at"], UTC)
    jobs = [r["job"] for r in records]
    name = f"{first:%H%M%S}-{last:%H%M%S}-{min(jobs)}-{max(jobs)}-{_UNSAFE.sub('_', worker)}-{seq:06d}"
    return f"{namespace}/{pool}/{first:%Y-%m-%d}/{name}.jsonl.gz"


def encode(records: list[dict[str, Any]]) -> bytes:
    """JSON lines, gzip-compressed (pure; mtime 0 so equal records give equal bytes)."""
    text = "\n".join(map(_JSON, records)) + "\n"
    return gzip.compress(text.encode(), compresslevel=6, mtime=0)


def store_client(settings: WorkerSettings, access_key: str, secret_key: str) -> Minio:
    """A client for the transcripts store: short timeouts and few retries, as the store may be away."""
    endpoint = urlsplit(settings.transcripts_endpoint or "")
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=3.0, read=10.0),
        retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        maxsize=2,
        cert_reqs="CERT_REQUIRED",
        ca_certs=settings.transcripts_ca_file,
    )
    return Minio(
        endpoint.netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=endpoint.scheme == "https",
        region=settings.transcripts_region,
        http_client=http,
    )


class Archive:
    """The worker's transcript writer. `add` per attempt; `start`, `flush` (tests), `close`."""

    def __init__(
        self, settings: WorkerSettings, vault: VaultKV | None, backoff: Backoff | None = None
    ) -> None:
        self.settings = settings
        self.enabled = bool(settings.transcripts_endpoint)
        self._vault = vault
        self._label = settings.pool
        self._limit = settings.transcripts_queue_records
        self._batch_records = settings.transcripts_batch_records
        self._backoff = backoff or Backoff(*UPLOAD_BACKOFF)
        self._queue = _Queue()
        self._seq = 0
        self.written = 0  # records written, for the benchmark and the tests
        self._client: Minio | None = None
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._lock = asyncio.Lock()  # one writer of the store at a time (the loop, flush, close)
        self._task: asyncio.Task[None] | None = None
        self._counts = {
            result: metrics.TRANSCRIPTS.labels(self._label, result)
            for result in ("written", "dropped_full", "dropped_shutdown")
        }
        self._uploads = {r: metrics.TRANSCRIPT_UPLOADS.labels(self._label, r) for r in ("ok", "failed")}

    @property
    def waiting(self) -> int:
        """Records not yet written (queued or in a batch being retried)."""
        return self._queue.waiting

    def add(self, record: dict[str, Any]) -> None:
        """Queue one attempt's record, or drop and count it when the queue is full. Never blocks."""
        queue = self._queue
        if queue.waiting >= self._limit:
            self._counts["dropped_full"].inc()
            return
        queue.pending.append(record)
        queue.waiting += 1
        if len(queue.pending) >= self._batch_records:
            self._wake.set()

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        failures = 0
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.transcripts_flush_seconds)
            self._wake.clear()
            if await self.flush():
                failures = 0
                continue
            failures += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._backoff.delay(failures))

    def _seal(self) -> None:
        queue = self._queue
        if queue.pending:
            self._seq += 1
            ns, pool = self.settings.pool_namespace, self.settings.pool_name
            key = batch_key(ns, pool, self.settings.worker_id, self._seq, queue.pending)
            queue.sealed.append(Batch(key, queue.pending))
            queue.pending = []

    async def flush(self) -> bool:
        """Seal what is queued and write every sealed batch, in order; False when one failed (it stays)."""
        if not self.enabled:
            return True
        async with self._lock:
            self._seal()
            queue = self._queue
            while queue.sealed:
                batch = queue.sealed[0]
                try:
                    await asyncio.to_thread(self._upload, batch, await self._store())
                except (ArchiveUnavailable, MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
                    self._uploads["failed"].inc()
                    log.warning(
                        "Transcript upload failed, retrying key=%s records=%d error=%s detail=%s",
                        batch.key,
                        len(batch.records),
                        type(exc).__name__,
                        str(exc)[:200],
                    )
                    return False
                queue.sealed.popleft()
                queue.waiting -= len(batch.records)
                self._uploads["ok"].inc()
                self._counts["written"].inc(len(batch.records))
                self.written += len(batch.records)
        return True

    async def _store(self) -> Minio:
        """The client, built on first use: its keys come from the environment or from Vault."""
        if self._client is not None:
            return self._client
        settings = self.settings
        if settings.transcripts_vault_path:
            if self._vault is None or not self._vault.config.configured:
                raise ArchiveUnavailable("POT_TRANSCRIPTS_VAULT_PATH is set but Vault is not configured")
            path = tenant_path(
                settings.pool_namespace, settings.transcripts_vault_path, settings.vault_tenant_prefix
            )
            try:
                data = await self._vault.read_async(path)
            except VaultError as exc:
                raise ArchiveUnavailable(f"store credentials at {path}: {exc}") from None
            access, secret = data.get("access_key"), data.get("secret_key")
            if not isinstance(access, str) or not isinstance(secret, str):
                raise ArchiveUnavailable(f"secret {path} lacks access_key/secret_key")
        else:
            access = settings.transcripts_access_key or ""
            key = settings.transcripts_secret_key
            secret = key.get_secret_value() if key is not None else ""
        self._client = store_client(settings, access, secret)
        return self._client

    def _upload(self, batch: Batch, client: Minio) -> None:
        """In a thread: encode (once) and PUT one batch."""
        if batch.data is None:
            batch.data = encode(batch.records)
        client.put_object(
            self.settings.transcripts_bucket,
            batch.key,
            io.BytesIO(batch.data),
            len(batch.data),
            content_type="application/gzip",
        )

    async def close(self, seconds: float = CLOSE_SECONDS) -> None:
        """Stop the loop and write what is left within `seconds`; the rest is dropped and counted."""
        if not self.enabled:
            return
        self._closing.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        deadline = time.monotonic() + seconds
        with contextlib.suppress(TimeoutError):
            while not await asyncio.wait_for(self.flush(), max(0.1, deadline - time.monotonic())):
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        if self._queue.waiting:
            log.warning("Dropped transcripts at shutdown records=%d", self._queue.waiting)
            self._counts["dropped_shutdown"].inc(self._queue.waiting)
            self._queue = _Queue()
