"""SMTP transcripts to S3-compatible object storage in the background; the dispatcher adds, the runner runs.

Off unless POT_TRANSCRIPTS_ENDPOINT is set. `add()` is all a send pays: it appends one record (one job
attempt: who, what became of it, and its tape) to a list, or drops it and counts it when
`transcripts_queue_records` are already waiting. A background task seals the list every
`transcripts_flush_seconds` (sooner when `transcripts_batch_records` are waiting) and writes each
sealed batch as one gzip-compressed JSON-lines object, encoded and uploaded in a thread. An upload
that fails is retried with a backoff, in order, while new records queue behind it up to the bound:
a slow or down store never slows or fails a send, it only costs transcripts (pot_transcripts_total
{result="dropped_full"}). On close the worker flushes what it can within a few seconds.

Missing store keys (nothing at the Vault path, a secret without access_key/secret_key, a policy that
refuses it, no Vault at all; or keys the store refuses, read again each try) are the normal state of a
namespace whose admin has not written them: sends go on untouched, at most one batch is held for when
the keys come (re-read with the same backoff), and the rest is dropped and counted (`dropped_no_keys`).
What stops transcripts is visible as the gauge pot_transcripts_unavailable{reason} and one log line per
reason and UNAVAILABLE_LOG_SECONDS. The store's calls and its Vault reads run on a thread of their own
and a Vault client of their own, so nothing they do (hang, time out, force a new login) can hold up a
send's threads or its credentials.

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error
from pot_common.backoff import Backoff
from pot_common.vault import VaultError, VaultKV, VaultUnavailable, tenant_path

from pot_worker import metrics
from pot_worker.config import WorkerSettings

log = logging.getLogger("pot_worker")

UPLOAD_BACKOFF = (1.0, 30.0)  # base, cap in seconds between tries of a failed upload (full jitter)
CLOSE_SECONDS = 5.0  # how long close() keeps trying to write what is left
UNAVAILABLE_LOG_SECONDS = 300.0  # one warning per reason in this long while transcripts cannot be written
REASONS = ("keys", "vault", "store")  # pot_transcripts_unavailable's reasons (see unavailable_reason)
# The store's answers that say the keys themselves are wrong: unknown, badly signed, or not allowed here
# (a tenant's user limited to its own prefix). The keys are read again before the next try.
REFUSED_KEYS = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
# One encoder for every record: json.dumps with arguments builds a new one per call, and ASCII output
# (non-ASCII as \u escapes) takes the C encoder's fast path, less than half the time per record.
_JSON = json.JSONEncoder(separators=(",", ":")).encode


_T = TypeVar("_T")


class ArchiveUnavailable(Exception):
    """The store or its credentials cannot be reached now (temporary; the batch is retried)."""


class KeysMissing(ArchiveUnavailable):
    """No usable store keys for this namespace (not written, incomplete, refused, no Vault): held for
    when they come, not queued up to the full bound."""


def unavailable_reason(error: BaseException) -> str:
    """Which of REASONS an upload failure is (pure): the namespace's keys, Vault, or the store itself."""
    if isinstance(error, KeysMissing) or (isinstance(error, S3Error) and error.code in REFUSED_KEYS):
        return "keys"
    if isinstance(error, ArchiveUnavailable) and isinstance(error.__cause__, VaultUnavailable):
        return "vault"
    return "store"


def should_log(last: tuple[str, float] | None, reason: str, now: float, every: float) -> bool:
    """Whether a failure for `reason` at `now` earns a log line (pure): the first, a new reason, or
    `every` seconds after the last line (`last` = the last logged reason and when)."""
    return last is None or last[0] != reason or now - last[1] >= every


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
        # A client of its own: a refused read here (which drops the client's login) or a slow login must
        # never touch the one the sends read their credentials with.
        self._vault = VaultKV(vault.config) if vault is not None else None
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
        # One thread for the store and its Vault reads: a hung upload never takes a thread the sends'
        # DNS lookups or credential reads (asyncio's default executor) are waiting for.
        self._executor: ThreadPoolExecutor | None = None
        self.keys_missing = False  # the last try found no usable keys: hold one batch, drop the rest
        self._failures = 0  # failed tries since the last logged line
        self._logged: tuple[str, float] | None = None  # the last logged reason and when (monotonic)
        self._counts = {
            result: metrics.TRANSCRIPTS.labels(self._label, result)
            for result in ("written", "dropped_full", "dropped_no_keys", "dropped_shutdown")
        }
        self._uploads = {r: metrics.TRANSCRIPT_UPLOADS.labels(self._label, r) for r in ("ok", "failed")}
        self._unavailable = {r: metrics.TRANSCRIPTS_UNAVAILABLE.labels(self._label, r) for r in REASONS}

    @property
    def waiting(self) -> int:
        """Records not yet written (queued or in a batch being retried)."""
        return self._queue.waiting

    def add(self, record: dict[str, Any]) -> None:
        """Queue one attempt's record, or drop and count it when the queue is full. Never blocks."""
        queue = self._queue
        if self.keys_missing and queue.waiting >= min(self._limit, self._batch_records):
            self._counts["dropped_no_keys"].inc()
            return
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

    async def _in_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="pot-transcripts")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

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
        """Seal what is queued and write every sealed batch, in order; False when one failed (it stays).

        While the keys are missing the keys are read again even with nothing queued, so the records
        `add` drops meanwhile stop being dropped once they are written."""
        if not self.enabled:
            return True
        async with self._lock:
            self._seal()
            queue = self._queue
            uploaded = False
            try:
                if self.keys_missing and not queue.sealed:
                    await self._store()
                    self.keys_missing = False  # found: take records again; the next upload tells
                while queue.sealed:
                    batch = queue.sealed[0]
                    await self._in_thread(self._upload, batch, await self._store())
                    queue.sealed.popleft()
                    queue.waiting -= len(batch.records)
                    self._uploads["ok"].inc()
                    self._counts["written"].inc(len(batch.records))
                    self.written += len(batch.records)
                    uploaded = True
            except (ArchiveUnavailable, MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
                self._failed(exc, queue.sealed[0] if queue.sealed else None)
                return False
        if uploaded:
            self._available()
        return True

    def _failed(self, exc: BaseException, batch: Batch | None) -> None:
        """Count, flag and (once per reason and period) log a failed try; the batch stays for the next."""
        reason = unavailable_reason(exc)
        self.keys_missing = reason == "keys"
        if self.keys_missing:
            self._client = None  # refused keys may have been rotated or fixed: read them again
        if batch is not None:
            self._uploads["failed"].inc()
        for name, gauge in self._unavailable.items():
            gauge.set(1 if name == reason else 0)
        self._failures += 1
        now = time.monotonic()
        if should_log(self._logged, reason, now, UNAVAILABLE_LOG_SECONDS):
            log.warning(
                "Transcripts not written, sends go on reason=%s waiting=%d failures=%d error=%s detail=%s",
                reason,
                self._queue.waiting,
                self._failures,
                type(exc).__name__,
                str(exc)[:200],
            )
            self._logged, self._failures = (reason, now), 0

    def _available(self) -> None:
        if self._logged is not None:
            log.info("Transcripts written again after failures pool=%s", self._label)
            self._logged, self._failures = None, 0
        self.keys_missing = False
        for gauge in self._unavailable.values():
            gauge.set(0)

    async def _store(self) -> Minio:
        """The client, built on first use: its keys come from the environment or from Vault.

        Raises KeysMissing when there are no usable keys, ArchiveUnavailable (from VaultUnavailable)
        when Vault did not answer."""
        if self._client is not None:
            return self._client
        settings = self.settings
        if settings.transcripts_vault_path:
            if self._vault is None or not self._vault.config.configured:
                raise KeysMissing("POT_TRANSCRIPTS_VAULT_PATH is set but Vault is not configured")
            path = settings.transcripts_vault_path
            try:
                path = tenant_path(settings.pool_namespace, path, settings.vault_tenant_prefix)
                data = await self._in_thread(self._vault.read, path)
            except VaultUnavailable as exc:
                raise ArchiveUnavailable(f"store credentials at {path}: {exc}") from exc
            except VaultError as exc:
                raise KeysMissing(f"store credentials at {path}: {exc}") from None
            access, secret = data.get("access_key"), data.get("secret_key")
            if not isinstance(access, str) or not isinstance(secret, str) or not access or not secret:
                raise KeysMissing(f"secret {path} lacks access_key/secret_key")
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
        """Stop the loop and write what is left within `seconds`; the rest is dropped and counted.

        Without keys nothing is waited for: one more read of them, then the rest is dropped."""
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
            while self._queue.waiting and not await asyncio.wait_for(
                self.flush(), max(0.1, deadline - time.monotonic())
            ):
                if self.keys_missing or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        if self._queue.waiting:
            log.warning("Dropped transcripts at shutdown records=%d", self._queue.waiting)
            self._counts["dropped_shutdown"].inc(self._queue.waiting)
            self._queue = _Queue()
        if self._executor is not None:
            # A hung upload's thread ends by its own timeouts; nothing here waits for it.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
