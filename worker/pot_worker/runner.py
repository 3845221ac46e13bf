"""The worker's lifecycle for one pool (`Worker`); run by pot_worker.cli, the tests and bench/pipeline.py.

Start, lanes that claim -> plan -> mark -> send -> record, the heartbeat and refresh loops, and the
drain on SIGTERM. Tests drive `Worker.run_once()` with an injected clock.

One batch costs, when all goes well: one claim, one `sending` mark and one result write in Postgres;
one limit reservation call plus one epoch check in Redis. The crash-safety argument is in
docs/worker.md ("State machine and crash windows").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from pot_common.backoff import Backoff

from pot_worker import metrics
from pot_worker.archive import UPLOAD_BACKOFF, Archive
from pot_worker.breaker import Breakers, Permits
from pot_worker.catalog import Catalog
from pot_worker.clock import Clock, SystemClock
from pot_worker.config import WorkerSettings
from pot_worker.credentials import CredentialStore
from pot_worker.dispatcher import CREDENTIALS_BACKOFF, Dispatcher
from pot_worker.limits import Limiter, Reservation
from pot_worker.planner import Planned, Planner, later, split_marked
from pot_worker.providers import ProviderResolver
from pot_worker.retry import RetryPolicy
from pot_worker.services import PG_FAILURES, REDIS_ERRORS, redis_client
from pot_worker.store import Job, JobStore, Mark, Result, Stats

log = logging.getLogger("pot_worker")

# The waits (base, cap in seconds; full jitter, so lanes and workers that failed together do not come
# back together) of a lane after Postgres or Redis failed it, of an owed Postgres write between tries,
# and of a Redis command that lost its connection (three tries).
LANE_BACKOFF = (0.4, 5.0)
WRITE_BACKOFF = (0.1, 2.0)
REDIS_BACKOFF = (0.1, 1.0)


def next_batch_size(current: int, asked: int, claimed: int, granted: int, low: int, high: int) -> int:
    """The next claim size (pure). Doubles while a full batch was claimed and every job got its limits,
    up to `high`; halves, down to `low`, when the limits refused more than half. Wide-open limits then
    cost fewer and larger statements per message; tight ones do not churn hundreds of jobs through claim
    and hand-back for each one sent. `high` below `low` means a fixed size."""
    high = max(low, high)
    if claimed >= asked and granted == claimed:
        return min(high, max(current, asked * 2))
    if granted * 2 < claimed:
        return max(low, min(current, asked // 2))
    return current


class Worker:
    """Sends for one pool. `start()`, then `run()` (until `stop()`) or `run_once()`, then `close()`."""

    def __init__(
        self,
        settings: WorkerSettings,
        clock: Clock | None = None,
        uniform: Callable[[float, float], float] | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        jitter: dict[str, Any] = {} if uniform is None else {"uniform": uniform}
        self.retry = RetryPolicy(
            settings.retry_base_seconds, settings.retry_cap_seconds, settings.max_attempts, **jitter
        )
        self._lane_backoff = Backoff(*LANE_BACKOFF, **jitter)
        self._redis_backoff = Backoff(*REDIS_BACKOFF, **jitter)
        self.breakers = Breakers(
            settings.breaker_threshold, timedelta(seconds=settings.breaker_cooloff_seconds)
        )
        self.credentials = CredentialStore.from_settings(settings)
        self.providers = ProviderResolver(settings.dns_resolver)
        self.stats = Stats()
        self.store = JobStore(settings, self.stats, Backoff(*WRITE_BACKOFF, **jitter))
        self.catalog = Catalog()
        self._stopping = asyncio.Event()
        self.archive = Archive(settings, self.credentials.vault, Backoff(*UPLOAD_BACKOFF, **jitter))
        self.dispatcher = Dispatcher(
            settings,
            self.clock,
            self.catalog,
            self.store,
            self.credentials,
            self.retry,
            self._stopping,
            self.stats,
            Backoff(*CREDENTIALS_BACKOFF, **jitter),
            self.archive,
        )
        self._redis: aioredis.Redis | None = None
        self._planner: Planner | None = None
        self._inflight: set[int] = set()
        self._invalidate_pending = False
        self._batch = settings.batch_size  # the claim size, adapted by _adapt_batch
        self._started_at = self.clock.now()
        self._label = settings.pool
        self._claim_size = metrics.CLAIM_SIZE.labels(self._label)
        self._claim_size.set(self._batch)

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, apply the schema, load the pool. Raises PoolNotFound if the pool is not projected."""
        await self.store.open()
        self._redis = redis_client(self.settings.redis_url, self._redis_backoff)
        await self.refresh()
        assert self.catalog.pool is not None
        self._planner = Planner(
            self.settings,
            self.catalog,
            self.store,
            Limiter(self._redis, self.catalog.pool.id),
            self.providers,
            rotation_start=int.from_bytes(os.urandom(2), "big"),  # workers start at different mailboxes
        )
        self.archive.start()
        log.info("Started worker worker=%s pool=%s", self.settings.worker_id, self._label)

    @property
    def claim_size(self) -> int:
        """How many jobs the next claim asks for (see next_batch_size)."""
        return self._batch

    @property
    def planner(self) -> Planner:
        assert self._planner is not None, "start() first"
        return self._planner

    @property
    def limiter(self) -> Limiter:
        return self.planner.limiter

    async def close(self) -> None:
        await self.dispatcher.close()
        await self.archive.close()  # after the last send: what it recorded is written, if the store lets it
        if self._redis is not None:
            await self._redis.aclose()
        await self.store.close()

    def stop(self) -> None:
        """Stop claiming; in-flight batches finish within drain_seconds (SIGTERM calls this)."""
        if not self._stopping.is_set():
            log.info("Received stop, draining worker=%s", self.settings.worker_id)
            self.store.give_up_after(self.settings.drain_seconds)
            self._stopping.set()

    async def run(self) -> None:
        """Lanes, heartbeats and refreshes until stop(); then release claims and say goodbye."""
        lanes = [asyncio.create_task(self._lane(i)) for i in range(self.settings.lanes)]
        side = [
            asyncio.create_task(self._every(self.settings.heartbeat_seconds, self.heartbeat, "heartbeat")),
            asyncio.create_task(self._every(self.settings.refresh_seconds, self.refresh, "refresh")),
        ]
        await self._stopping.wait()
        _, pending = await asyncio.wait(lanes, timeout=self.settings.drain_seconds)
        for task in [*pending, *side]:
            task.cancel()
        await asyncio.gather(*pending, *side, return_exceptions=True)
        with contextlib.suppress(*PG_FAILURES):
            released = await self.store.release_all(self.clock.now())
            log.info("Released claims worker=%s result=%r", self.settings.worker_id, released)

    async def _lane(self, index: int) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                claimed = await self.run_once()
                failures = 0
            except (*PG_FAILURES, *REDIS_ERRORS) as exc:
                failures += 1
                kind = "redis" if isinstance(exc, REDIS_ERRORS) else "postgres"
                metrics.WORKER_ERRORS.labels(self._label, kind).inc()
                log.warning(
                    "Lane failed lane=%d kind=%s error=%s detail=%s", index, kind, type(exc).__name__, exc
                )
                await self._sleep(self._lane_backoff.delay(failures))
                continue
            if claimed == 0:
                await self._sleep(self.settings.idle_seconds)

    async def _every(self, seconds: float, action: Callable[[], Awaitable[None]], kind: str) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await action()
            except (*PG_FAILURES, *REDIS_ERRORS) as exc:
                metrics.WORKER_ERRORS.labels(self._label, kind).inc()
                log.warning("Periodic task failed task=%s error=%s", kind, type(exc).__name__)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # ---- periodic --------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Reload the pool, its mailboxes (effective limits) and running campaigns."""
        changes = await self.catalog.refresh(self.store)
        if self._planner is not None:
            if changes.domain_cap_moved:
                self._planner.full.forget_domains()
            for campaign_id in changes.campaign_caps_moved:
                self._planner.full.forget_campaign(campaign_id)  # the cap moved: ask the script again
        self.dispatcher.drop(changes.endpoints_moved)

    async def heartbeat(self) -> None:
        """Heartbeat, extend our leases, reap expired ones, update the lag and circuit gauges."""
        pool = self.catalog.pool
        assert pool is not None
        now = self.clock.now()
        lease_until = now + timedelta(seconds=self.settings.lease_seconds)
        row = await self.store.heartbeat(pool.id, self._started_at, now, lease_until, list(self._inflight))
        if row is not None:
            lag = row["queue_lag_seconds"]
            metrics.QUEUE_LAG.labels(self._label).set(float(lag) if lag is not None else 0.0)
            if row["reaped"]:
                log.info("Recovered expired leases jobs=%d pool=%s", row["reaped"], self._label)
            if row["reaped_claimed"]:
                # A claim that expired unmarked may hold a reservation its dead worker never released:
                # rebuild the counters from Postgres rather than lose that capacity until the bucket ends.
                self._invalidate_pending = True
        if self._invalidate_pending:
            await self.limiter.invalidate()  # kept pending across a Redis outage: the reap is not repeated
            self._invalidate_pending = False
            log.info("Invalidated limit counters after recovering claims pool=%s", self._label)
        open_now = self.breakers.open_providers()
        for provider in self.breakers.by_provider:
            metrics.CIRCUIT_OPEN.labels(self._label, provider).set(1 if provider in open_now else 0)

    # ---- one batch -------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim and process one batch; returns how many jobs were claimed."""
        now = self.clock.now()
        if not self.catalog.may_send(now):
            return 0
        pool = self.catalog.pool
        assert pool is not None
        full_campaigns, full_domains = self.planner.full.known(now)
        lease_until = now + timedelta(seconds=self.settings.lease_seconds)
        asked = self._batch
        jobs = await self.store.claim(pool.id, now, lease_until, asked, full_campaigns, full_domains)
        if not jobs:
            return 0
        self._inflight.update(j.id for j in jobs)
        try:
            granted = await self._process(jobs, now)
        finally:
            self._inflight.difference_update(j.id for j in jobs)
        self._adapt_batch(asked, len(jobs), granted)
        return len(jobs)

    def _adapt_batch(self, asked: int, claimed: int, granted: int) -> None:
        self._batch = next_batch_size(
            self._batch, asked, claimed, granted, self.settings.batch_size, self.settings.batch_size_max
        )
        self._claim_size.set(self._batch)

    async def _process(self, jobs: list[Job], now: datetime) -> int:
        """Plan, mark, send and record one claimed batch; returns how many jobs got their limits."""
        results: list[Result] = []
        planned: list[Planned] = []
        unsent: list[Reservation] = []
        permits = Permits(self.breakers)
        try:
            if any(j.campaign_id not in self.catalog.campaigns for j in jobs):
                await self.refresh()
            try:
                plans = await self.planner.plan(jobs, now, permits)
            except (*REDIS_ERRORS, *PG_FAILURES) as exc:
                # Redis or Postgres is away: hand the whole batch back and let the lane back off.
                log.warning("Planning failed error=%s detail=%s", type(exc).__name__, exc)
                results.extend(later(j, now + timedelta(seconds=5)) for j in jobs)
                raise
            for plan in plans:
                if isinstance(plan, Planned):
                    planned.append(plan)
                else:
                    results.append(plan)
            if planned:
                sendable, held, lost = await self._mark_sending(planned, now)
                unsent.extend(p.reservation for p in [*held, *lost])
                results.extend(later(p.job, now) for p in held)
                if sendable:
                    results.extend(await self.dispatcher.send_all(sendable, unsent))
        finally:
            # The one place a permit whose message did not go is handed back, before the writes, which
            # may wait for Postgres.
            permits.release_unsettled()
            if results:
                await self.store.finish(results, self.clock.now)
            if unsent:
                with contextlib.suppress(*REDIS_ERRORS):
                    await self.limiter.release_many(unsent)
        return len(planned)

    async def _mark_sending(
        self, planned: list[Planned], now: datetime
    ) -> tuple[list[Planned], list[Planned], list[Planned]]:
        """Write `sending` before any DATA, then confirm the reservations' epoch (see split_marked)."""
        planned = sorted(planned, key=lambda p: p.job.id)
        lease_until = now + timedelta(seconds=self.settings.lease_seconds)
        marks = [Mark(p.job.id, p.mailbox.id, p.message_id, p.job.attempts + 1) for p in planned]
        marked = await self.store.mark_sending(marks, now, lease_until)
        try:
            epoch = await self.limiter.epoch()
        except REDIS_ERRORS:
            epoch = None
        send, held, lost = split_marked(planned, marked, epoch)
        if held:
            log.info("Held back sends reserved under an old limit epoch jobs=%d", len(held))
        return send, held, lost
