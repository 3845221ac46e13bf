"""The sending loop for one pool: claim -> limits -> send -> record, with heartbeats and a clean drain.

Run by pot_worker.cli (`pot-worker`); tests drive `Worker.run_once()` with an injected clock. One batch
costs, when all goes well: one claim, one `sending` mark and one result write in Postgres; one limit
reservation per job plus one epoch check per batch in Redis. The crash-safety argument is in
docs/worker.md ("State machine and crash windows").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import redis.asyncio as aioredis
import redis.exceptions
from pot_common.db import apply_schema, query
from prometheus_client import Counter
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from pot_worker import metrics
from pot_worker.breaker import Breakers, BreakerState, CircuitBreaker
from pot_worker.classify import Decision, JobState, Outcome, classify, decide, returned_state
from pot_worker.clock import Clock, SystemClock
from pot_worker.config import WorkerSettings
from pot_worker.credentials import Credentials, CredentialsError, CredentialStore
from pot_worker.limits import (
    Limiter,
    MailboxLimits,
    ReconcileNeeded,
    Refusal,
    Reservation,
    ReservationRequest,
    rotation,
)
from pot_worker.providers import ProviderResolver
from pot_worker.render import InvalidRecipient, Sender, Template, message_id, render_message
from pot_worker.retry import RetryPolicy
from pot_worker.smtp import Attempt, Endpoint, MailboxConnection
from pot_worker.window import in_window

log = logging.getLogger("pot_worker")

T = TypeVar("T")

# Errors that mean "a backing service is unavailable right now", retried with a delay.
PG_ERRORS = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError, asyncpg.CannotConnectNowError)
REDIS_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)


async def _no_session_state(conn: asyncpg.Connection) -> None:
    """The pool's reset on release. asyncpg's default runs `SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL` after every use: one more round trip per statement, for session state the
    worker never creates (no advisory locks, cursors, LISTEN or SET). asyncpg still rolls back an open
    transaction before calling this."""


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


class PoolNotFound(Exception):
    """The pool row does not exist (yet): the operator has not projected it."""


@dataclass(frozen=True)
class Pool:
    id: int
    domain_hourly_limit: int | None
    window_start: Any
    window_end: Any
    time_zone: str
    window_days: tuple[int, ...]
    paused: bool


@dataclass(frozen=True)
class Mailbox:
    id: int
    name: str
    address: str
    display_name: str
    endpoint: Endpoint
    credentials_ref: str | None
    limits: MailboxLimits
    state: str
    cooldown_until: datetime | None


@dataclass(frozen=True)
class Campaign:
    id: int
    tenant: str
    template: Template
    daily_limit: int | None
    hourly_limit: int | None


@dataclass
class Job:
    id: int
    campaign_id: int
    recipient: str
    domain: str
    variables: dict[str, Any]
    attempts: int  # attempts before this one


@dataclass
class Planned:
    """A job with its limits reserved, about to be sent."""

    job: Job
    mailbox: Mailbox
    reservation: Reservation
    message_id: str
    provider: str
    message: bytes


@dataclass
class Result:
    """One row of the result write (worker_finish.sql)."""

    job_id: int
    state: JobState
    attempts: int
    next_attempt_at: datetime | None = None
    code: int | None = None
    enhanced: str | None = None
    reply: str | None = None
    outcome: str | None = None
    mailbox_id: int | None = None


@dataclass
class Stats:
    """Round trips and sends, read by the benchmark and the tests."""

    pg_round_trips: int = 0
    jobs_claimed: int = 0
    results_written: int = 0  # result rows committed (worker_finish.sql)
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Worker:
    """Sends for one pool. `start()`, then `run(stop)` or `run_once()`, then `close()`."""

    def __init__(
        self,
        settings: WorkerSettings,
        clock: Clock | None = None,
        uniform: Callable[[float, float], float] | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        policy_args: dict[str, Any] = {} if uniform is None else {"uniform": uniform}
        self.retry = RetryPolicy(
            settings.retry_base_seconds, settings.retry_cap_seconds, settings.max_attempts, **policy_args
        )
        self.breakers = Breakers(
            settings.breaker_threshold, timedelta(seconds=settings.breaker_cooloff_seconds)
        )
        self.credentials = CredentialStore(
            settings.vault_addr, settings.vault_token, settings.vault_mount, settings.credentials_ttl_seconds
        )
        self.providers = ProviderResolver(settings.dns_resolver)
        self.stats = Stats()
        self.pool: Pool | None = None
        self.mailboxes: dict[int, Mailbox] = {}
        self.campaigns: dict[int, Campaign] = {}
        self._db: asyncpg.Pool | None = None
        self._redis: aioredis.Redis | None = None
        self._limiter: Limiter | None = None
        self._connections: dict[int, MailboxConnection] = {}
        self._mailbox_locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._bad_mailboxes: set[int] = set()
        self._inflight: set[int] = set()
        self._invalidate_pending = False
        self._reconcile_lock = asyncio.Lock()
        self._reconciles = 0
        # (level, key) -> until when a campaign or recipient domain is at its cap, as the limit script
        # said. Claims skip those jobs meanwhile; the script stays the authority on every reservation.
        self._full: dict[tuple[str, str], datetime] = {}
        self._batch = settings.batch_size  # the claim size, adapted by _adapt_batch
        self._rr = int.from_bytes(os.urandom(2), "big")  # workers start their rotation at different mailboxes
        self._stopping = asyncio.Event()
        self._drain_deadline: float | None = None
        self._started_at = self.clock.now()
        self._tls = ssl.create_default_context(cafile=settings.smtp_ca_file)
        self._label = settings.pool
        # Labelled children looked up once: .labels() per message was measurable in the profile.
        self._latency = metrics.SMTP_LATENCY.labels(self._label)
        self._claim_size = metrics.CLAIM_SIZE.labels(self._label)
        self._claim_size.set(self._batch)
        self._sends: dict[tuple[str, str], Counter] = {}

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, apply the schema, load the pool. Raises PoolNotFound if the pool is not projected."""
        self._db = await asyncpg.create_pool(
            self.settings.database_url,
            min_size=1,
            max_size=self.settings.lanes + 2,
            command_timeout=30,
            reset=_no_session_state,
        )
        async with self._db.acquire() as conn:
            await apply_schema(conn)
        # Retrying a reservation whose reply was lost can only count it twice (too strict, never over a cap).
        self._redis = aioredis.from_url(
            self.settings.redis_url,
            socket_timeout=10,
            socket_connect_timeout=5,
            max_connections=64,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
            retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
        )
        await self.refresh()
        assert self.pool is not None
        self._limiter = Limiter(self._redis, self.pool.id)
        log.info("Started worker worker=%s pool=%s", self.settings.worker_id, self._label)

    @property
    def claim_size(self) -> int:
        """How many jobs the next claim asks for (see next_batch_size)."""
        return self._batch

    @property
    def limiter(self) -> Limiter:
        assert self._limiter is not None, "start() first"
        return self._limiter

    @property
    def db(self) -> asyncpg.Pool:
        assert self._db is not None, "start() first"
        return self._db

    async def close(self) -> None:
        for conn in self._connections.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.quit(), 2)
        self._connections.clear()
        if self._redis is not None:
            await self._redis.aclose()
        if self._db is not None:
            await self._db.close()

    def stop(self) -> None:
        """Stop claiming; in-flight batches finish within drain_seconds (SIGTERM calls this)."""
        if not self._stopping.is_set():
            log.info("Received stop, draining worker=%s", self.settings.worker_id)
            self._drain_deadline = time.monotonic() + self.settings.drain_seconds
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
        with contextlib.suppress(*PG_ERRORS, asyncpg.PostgresError):
            released = await self.db.execute(
                query("worker_release"), self.settings.worker_id, self.clock.now()
            )
            await self.db.execute(query("worker_goodbye"), self.settings.worker_id)
            log.info("Released claims worker=%s result=%r", self.settings.worker_id, released)

    async def _lane(self, index: int) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                claimed = await self.run_once()
                failures = 0
            except (*PG_ERRORS, *REDIS_ERRORS, asyncpg.PostgresError) as exc:
                failures += 1
                kind = "redis" if isinstance(exc, REDIS_ERRORS) else "postgres"
                metrics.WORKER_ERRORS.labels(self._label, kind).inc()
                log.warning(
                    "Lane failed lane=%d kind=%s error=%s detail=%s", index, kind, type(exc).__name__, exc
                )
                await self._sleep(min(5.0, 0.2 * 2**failures))
                continue
            if claimed == 0:
                await self._sleep(self.settings.idle_seconds)

    async def _every(self, seconds: float, action: Callable[[], Awaitable[None]], kind: str) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await action()
            except (*PG_ERRORS, *REDIS_ERRORS, asyncpg.PostgresError) as exc:
                metrics.WORKER_ERRORS.labels(self._label, kind).inc()
                log.warning("Periodic task failed task=%s error=%s", kind, type(exc).__name__)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _persist(self, what: str, action: Callable[[], Awaitable[T]]) -> T:
        """Retry a Postgres write until it succeeds: a live worker never abandons jobs it holds.

        Gives up only when draining past the deadline; the leases then expire and the reaper decides.
        """
        delay = 0.1
        while True:
            try:
                self.stats.pg_round_trips += 1
                return await action()
            except (*PG_ERRORS, asyncpg.PostgresError) as exc:
                metrics.WORKER_ERRORS.labels(self._label, "postgres").inc()
                if self._drain_deadline is not None and time.monotonic() > self._drain_deadline:
                    raise
                log.warning("Write failed, retrying what=%s error=%s", what, type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    # ---- periodic --------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Reload the pool, its mailboxes (effective limits) and running campaigns."""
        row = await self.db.fetchrow(
            query("worker_pool"), self.settings.pool_namespace, self.settings.pool_name
        )
        self.stats.pg_round_trips += 1
        if row is None:
            raise PoolNotFound(self._label)
        if self.pool is not None and self.pool.domain_hourly_limit != row["domain_hourly_limit"]:
            self._full = {k: v for k, v in self._full.items() if k[0] != "domain"}  # the cap moved
        self.pool = Pool(
            row["id"],
            row["domain_hourly_limit"],
            row["window_start"],
            row["window_end"],
            row["time_zone"],
            tuple(row["window_days"]),
            row["paused"],
        )
        rows = await self.db.fetch(query("worker_mailboxes"), self.pool.id)
        mailboxes = {}
        for r in rows:
            mailboxes[r["id"]] = Mailbox(
                r["id"],
                f"{r['namespace']}/{r['name']}",
                r["address"],
                r["display_name"],
                Endpoint(r["smtp_host"], r["smtp_port"], r["smtp_tls"]),
                r["credentials_ref"],
                MailboxLimits(r["id"], r["daily_cap"], r["hourly_cap"], r["min_spacing_seconds"]),
                r["state"],
                r["cooldown_until"],
            )
            if r["state"] == "credentials_bad":
                self._bad_mailboxes.discard(r["id"])  # Postgres says so now; it also says when it is fixed
            old = self.mailboxes.get(r["id"])
            if old is not None and old.endpoint != mailboxes[r["id"]].endpoint:
                conn = self._connections.pop(r["id"], None)
                if conn is not None:
                    conn.close()
        self.mailboxes = mailboxes
        rows = await self.db.fetch(query("worker_campaigns"), self.pool.id)
        self.stats.pg_round_trips += 2
        old_campaigns = self.campaigns
        self.campaigns = {
            r["id"]: Campaign(
                r["id"],
                r["tenant"],
                Template(
                    r["subject_template"],
                    r["text_template"],
                    r["html_template"],
                    r["unsubscribe_url"],
                    r["unsubscribe_mailto"],
                ),
                r["daily_limit"],
                r["hourly_limit"],
            )
            for r in rows
        }
        for cid, campaign in self.campaigns.items():
            old_campaign = old_campaigns.get(cid)
            if old_campaign is not None and (old_campaign.daily_limit, old_campaign.hourly_limit) != (
                campaign.daily_limit,
                campaign.hourly_limit,
            ):
                self._full.pop(("campaign", str(cid)), None)  # the cap moved: ask the script again

    async def heartbeat(self) -> None:
        """Heartbeat, extend our leases, reap expired ones, update the lag and circuit gauges."""
        assert self.pool is not None
        now = self.clock.now()
        row = await self.db.fetchrow(
            query("worker_heartbeat"),
            self.settings.worker_id,
            self.pool.id,
            socket.gethostname(),
            os.getpid(),
            self._started_at,
            now,
            now + timedelta(seconds=self.settings.lease_seconds),
            list(self._inflight),
        )
        self.stats.pg_round_trips += 1
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

    def eligible_mailboxes(self, now: datetime) -> list[Mailbox]:
        return [
            m
            for m in self.mailboxes.values()
            if m.state == "active"
            and (m.cooldown_until is None or m.cooldown_until <= now)
            and m.id not in self._bad_mailboxes
            and m.limits.daily_cap > 0
            and m.limits.hourly_cap > 0
        ]

    def may_send(self, now: datetime) -> bool:
        pool = self.pool
        if pool is None or pool.paused or not self.campaigns:
            return False
        if not in_window(now, pool.window_start, pool.window_end, pool.time_zone, pool.window_days):
            return False
        return bool(self.eligible_mailboxes(now))

    async def run_once(self) -> int:
        """Claim and process one batch; returns how many jobs were claimed."""
        now = self.clock.now()
        if not self.may_send(now):
            return 0
        assert self.pool is not None
        lease = now + timedelta(seconds=self.settings.lease_seconds)
        self.stats.pg_round_trips += 1
        full_campaigns, full_domains = self._known_full(now)
        rows = await self.db.fetch(
            query("worker_claim"),
            self.pool.id,
            self.settings.worker_id,
            now,
            lease,
            asked := self._batch,
            full_campaigns,
            full_domains,
        )
        if not rows:
            return 0
        jobs = [
            Job(
                r["id"],
                r["campaign_id"],
                r["recipient"],
                r["recipient_domain"] or "",
                json.loads(r["variables"]),
                r["attempts"],
            )
            for r in rows
        ]
        self._inflight.update(j.id for j in jobs)
        self.stats.jobs_claimed += len(jobs)
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
        try:
            if any(j.campaign_id not in self.campaigns for j in jobs):
                await self.refresh()
            try:
                plans = await self._plan_batch(jobs, now)
            except (*REDIS_ERRORS, *PG_ERRORS, asyncpg.PostgresError) as exc:
                # Redis or Postgres is away: hand the whole batch back and let the lane back off.
                log.warning("Planning failed error=%s detail=%s", type(exc).__name__, exc)
                results.extend(
                    Result(j.id, returned_state(j.attempts), j.attempts, now + timedelta(seconds=5))
                    for j in jobs
                )
                raise
            for plan in plans:
                if isinstance(plan, Planned):
                    planned.append(plan)
                else:
                    results.append(plan)
            if planned:
                sendable, held, lost = await self._mark_sending(planned, now)
                unsent.extend(p.reservation for p in [*held, *lost])
                results.extend(
                    Result(p.job.id, returned_state(p.job.attempts), p.job.attempts, now) for p in held
                )
                if sendable:
                    results.extend(await self._send_all(sendable, unsent))
        finally:
            if results:
                await self._persist("results", lambda: self._write_results(results))
            if unsent:
                with contextlib.suppress(*REDIS_ERRORS):
                    await self.limiter.release_many(unsent)
        return len(planned)

    async def _plan_batch(self, jobs: list[Job], now: datetime) -> list[Planned | Result]:
        """Check circuits, reserve every job's limits in one round trip, render what was reserved.

        A Result for each job that cannot go now. If Redis or Postgres fails midway, reservations
        already granted are handed back before the error propagates.
        """
        assert self.pool is not None
        domains = sorted({j.domain for j in jobs})
        providers = dict(
            zip(domains, await asyncio.gather(*map(self.providers.provider, domains)), strict=True)
        )
        eligible = [m.limits for m in self.eligible_mailboxes(now)]
        plans: list[Planned | Result | None] = [None] * len(jobs)
        waiting: list[tuple[int, Campaign, CircuitBreaker, ReservationRequest]] = []
        for n, job in enumerate(jobs):
            campaign = self.campaigns.get(job.campaign_id)
            if campaign is None:  # paused or finished since the claim
                plans[n] = Result(
                    job.id, returned_state(job.attempts), job.attempts, now + timedelta(minutes=1)
                )
                continue
            breaker = self.breakers.get(providers[job.domain])
            if not breaker.allow(now):
                plans[n] = Result(job.id, returned_state(job.attempts), job.attempts, breaker.retry_at(now))
                continue
            candidates = rotation(eligible, self._rr, self.settings.mailbox_candidates)
            self._rr += 1
            known = self._full_until(job, now) if candidates else now + timedelta(minutes=1)
            if known is not None:  # no mailbox, or a cap this worker already saw full: Redis need not say it
                breaker.release_probe()
                plans[n] = Result(job.id, returned_state(job.attempts), job.attempts, known)
                continue
            request = ReservationRequest(
                campaign.id,
                campaign.daily_limit,
                campaign.hourly_limit,
                job.domain,
                self.pool.domain_hourly_limit,
                tuple(candidates),
                now,
            )
            waiting.append((n, campaign, breaker, request))
        granted: list[Reservation] = []
        try:
            for _ in range(50):
                if not waiting:
                    break
                outcomes = await self.limiter.reserve_batch([w[3] for w in waiting])
                again = []
                for (n, campaign, breaker, _request), outcome in zip(waiting, outcomes, strict=True):
                    if isinstance(outcome, ReconcileNeeded):
                        again.append((n, campaign, breaker, _request))
                    elif isinstance(outcome, Refusal):
                        plans[n] = self._refused(jobs[n], breaker, outcome)
                    else:
                        plans[n] = await self._render(jobs[n], campaign, breaker, providers, outcome, now)
                        if isinstance(plans[n], Planned):
                            granted.append(outcome)
                        # Rendering a whole batch in one go held the loop for milliseconds while
                        # the other lanes' SMTP replies waited: let them run between messages.
                        await asyncio.sleep(0)
                waiting = again
                if waiting:
                    await self.reconcile(now)
            if waiting:
                raise redis.exceptions.ConnectionError("limit counters could not be reconciled")
        except BaseException:
            with contextlib.suppress(*REDIS_ERRORS):
                await self.limiter.release_many(granted)
            raise
        return [p for p in plans if p is not None]

    def _refused(self, job: Job, breaker: CircuitBreaker, refusal: Refusal) -> Result:
        breaker.release_probe()
        metrics.LIMIT_REFUSALS.labels(self._label, refusal.level).inc()
        if refusal.level == "campaign":
            self._full[("campaign", str(job.campaign_id))] = refusal.retry_at
        elif refusal.level == "domain":
            self._full[("domain", job.domain)] = refusal.retry_at
        return Result(job.id, returned_state(job.attempts), job.attempts, refusal.retry_at)

    async def _render(
        self,
        job: Job,
        campaign: Campaign,
        breaker: CircuitBreaker,
        providers: dict[str, str],
        reserved: Reservation,
        now: datetime,
    ) -> Planned | Result:
        mailbox = self.mailboxes[reserved.mailbox_id]
        msg_id = message_id(campaign.id, job.id, job.attempts + 1, mailbox.address)
        try:
            msg = render_message(
                campaign.template,
                Sender(mailbox.address, mailbox.display_name),
                job.recipient,
                job.variables,
                msg_id,
                now,
            )
        except InvalidRecipient as exc:
            breaker.release_probe()
            await self.limiter.release_many([reserved])
            return Result(
                job.id,
                JobState.FAILED,
                job.attempts,
                None,
                None,
                None,
                f"invalid recipient: {exc}"[:500],
                Outcome.FAILED.value,
                None,
            )
        return Planned(job, mailbox, reserved, msg_id, providers[job.domain], msg)

    def _known_full(self, now: datetime) -> tuple[list[int], list[str]]:
        """Campaign ids and domains still at their cap (forgetting those whose bucket has ended)."""
        for key in [k for k, until in self._full.items() if until <= now]:
            del self._full[key]
        campaigns = [int(key) for level, key in self._full if level == "campaign"]
        return campaigns, [key for level, key in self._full if level == "domain"]

    def _full_until(self, job: Job, now: datetime) -> datetime | None:
        for key in (("campaign", str(job.campaign_id)), ("domain", job.domain)):
            until = self._full.get(key)
            if until is not None and until > now:
                return until
        return None

    async def reconcile(self, now: datetime) -> None:
        """Rebuild the pool's counters from Postgres after Redis lost them (one worker does it)."""
        assert self.pool is not None
        pool_id = self.pool.id
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        hour_start = now.replace(minute=0, second=0, microsecond=0)

        async def counts() -> list[tuple[str, str, int, int, datetime | None]]:
            self.stats.pg_round_trips += 1
            rows = await self.db.fetch(query("worker_reconcile_counts"), pool_id, day_start, hour_start)
            return [(r["kind"], r["key"], r["day_count"], r["hour_count"], r["last"]) for r in rows]

        # Every job of a batch learns at once that the counters are gone: one of them rebuilds, the
        # others wait for it instead of each asking Redis.
        seen = self._reconciles
        async with self._reconcile_lock:
            if self._reconciles != seen:
                return
            if await self.limiter.try_reconcile(counts, now):
                self._reconciles += 1
                self._full.clear()  # rebuilt counters may have room that the old ones did not
                metrics.WORKER_ERRORS.labels(self._label, "redis_reconciled").inc()
                log.info("Reconciled limit counters from Postgres pool=%s", self._label)
                return
            await asyncio.sleep(0.1)  # another process is rebuilding
            self._reconciles += 1  # let the waiting jobs try their reservation again

    async def _mark_sending(
        self, planned: list[Planned], now: datetime
    ) -> tuple[list[Planned], list[Planned], list[Planned]]:
        """Write `sending` before any DATA, then confirm the reservations' epoch.

        Returns (send these, hand these back unsent, forget these: their claim went to another worker).
        """
        lease = now + timedelta(seconds=self.settings.lease_seconds)
        planned = sorted(planned, key=lambda p: p.job.id)

        async def mark() -> set[int]:
            rows = await self.db.fetch(
                query("worker_mark_sending"),
                self.settings.worker_id,
                now,
                lease,
                [p.job.id for p in planned],
                [p.mailbox.id for p in planned],
                [p.message_id for p in planned],
                [p.job.attempts + 1 for p in planned],
            )
            return {r["id"] for r in rows}

        marked = await self._persist("sending", mark)
        try:
            epoch = await self.limiter.epoch()
        except REDIS_ERRORS:
            epoch = None
        send, held, lost = [], [], []
        for p in planned:
            if p.job.id not in marked:
                lost.append(p)
            elif p.reservation.epoch == epoch:
                send.append(p)
            else:
                # Reserved before Redis lost its counters: the rebuilt counters may not include it.
                held.append(p)
        if held:
            log.info("Held back sends reserved under an old limit epoch jobs=%d", len(held))
        return send, held, lost

    async def _send_all(self, planned: list[Planned], unsent: list[Reservation]) -> list[Result]:
        groups: dict[int, list[Planned]] = defaultdict(list)
        for p in planned:
            groups[p.mailbox.id].append(p)
        batches = await asyncio.gather(*(self._send_group(items, unsent) for items in groups.values()))
        return [r for batch in batches for r in batch]

    async def _send_group(self, items: list[Planned], unsent: list[Reservation]) -> list[Result]:
        mailbox = items[0].mailbox
        results: list[Result] = []
        async with self._mailbox_locks[mailbox.id]:
            conn = self._connections.get(mailbox.id)
            if conn is None:
                conn = self._connections[mailbox.id] = MailboxConnection(
                    mailbox.endpoint, self.settings.helo_name, self.settings.smtp_timeout_seconds, self._tls
                )
            creds: Credentials | None = None
            creds_problem: str | None = None
            try:
                creds = await self.credentials.get(mailbox.credentials_ref)
            except CredentialsError as exc:
                creds_problem = str(exc)
            except Exception as exc:  # Vault unreachable: a temporary problem, not bad credentials
                metrics.WORKER_ERRORS.labels(self._label, "vault").inc()
                creds_problem = f"vault unavailable: {type(exc).__name__}"
                for p in items:
                    unsent.append(p.reservation)
                    self.breakers.get(p.provider).release_probe()
                    results.append(
                        Result(
                            p.job.id,
                            returned_state(p.job.attempts),
                            p.job.attempts,
                            self.clock.now() + timedelta(seconds=30),
                        )
                    )
                return results
            for p in items:
                if creds_problem is not None or mailbox.id in self._bad_mailboxes:
                    if creds_problem is not None and mailbox.id not in self._bad_mailboxes:
                        await self._mark_mailbox_bad(mailbox, creds_problem)
                    unsent.append(p.reservation)
                    self.breakers.get(p.provider).release_probe()
                    results.append(
                        Result(p.job.id, returned_state(p.job.attempts), p.job.attempts, self.clock.now())
                    )
                    continue
                breaker = self.breakers.get(p.provider)
                if breaker.state is BreakerState.OPEN or self._stopping.is_set():
                    # Opened by an earlier reply in this same batch, or SIGTERM: nothing of this job
                    # went out, so it goes back unsent (attempt not counted, limits released) instead
                    # of waiting in `sending` for a lease to end and become `unknown`.
                    breaker.release_probe()
                    unsent.append(p.reservation)
                    retry_at = self.clock.now()
                    if breaker.state is BreakerState.OPEN:
                        retry_at = breaker.retry_at(retry_at)
                    results.append(Result(p.job.id, returned_state(p.job.attempts), p.job.attempts, retry_at))
                    continue
                started = time.perf_counter()
                attempt = await conn.send(mailbox.address, p.job.recipient, p.message, creds)
                self._latency.observe(time.perf_counter() - started)
                results.append(await self._record(p, attempt, unsent))
        return results

    async def _record(self, p: Planned, attempt: Attempt, unsent: list[Reservation]) -> Result:
        """Classify one reply and apply its side effects (breaker, mailbox, metrics)."""
        now = self.clock.now()
        outcome = classify(attempt.phase, attempt.code, attempt.enhanced)
        decision: Decision = decide(outcome, attempt.phase, p.job.attempts + 1, self.retry, now)
        breaker: CircuitBreaker = self.breakers.get(p.provider)
        if decision.breaker_failure:
            breaker.record_failure(now)
        elif decision.breaker_success:
            breaker.record_success()
        else:
            breaker.release_probe()
        if decision.release:
            unsent.append(p.reservation)
        if decision.mailbox_bad:
            self.credentials.forget(p.mailbox.credentials_ref or "")
            await self._mark_mailbox_bad(p.mailbox, f"AUTH refused: {attempt.code} {attempt.reply}"[:300])
        key = (p.mailbox.name, outcome.value)
        sends = self._sends.get(key)
        if sends is None:
            sends = self._sends[key] = metrics.SENDS.labels(self._label, *key)
        sends.inc()
        self.stats.outcomes[outcome.value] += 1
        if outcome is Outcome.UNKNOWN:
            log.warning("Lost connection after DATA job=%d mailbox=%s", p.job.id, p.mailbox.name)
        return Result(
            p.job.id,
            decision.state,
            decision.attempts,
            decision.next_attempt_at,
            attempt.code,
            attempt.enhanced,
            attempt.reply,
            outcome.value,
            p.mailbox.id,
        )

    async def _mark_mailbox_bad(self, mailbox: Mailbox, reason: str) -> None:
        self._bad_mailboxes.add(mailbox.id)
        conn = self._connections.pop(mailbox.id, None)
        if conn is not None:
            conn.close()
        log.error("Marked mailbox credentials bad mailbox=%s", mailbox.name)
        await self._persist(
            "credentials_bad",
            lambda: self.db.execute(query("worker_credentials_bad"), mailbox.id, reason, self.clock.now()),
        )

    async def _write_results(self, results: list[Result]) -> None:
        # One lock order (by id) for every batch write, or two workers' batches can deadlock.
        results = sorted(results, key=lambda r: r.job_id)
        await self.db.fetchval(
            query("worker_finish"),
            self.settings.worker_id,
            self.clock.now(),
            [r.job_id for r in results],
            [r.state.value for r in results],
            [r.attempts for r in results],
            [r.next_attempt_at for r in results],
            [r.code for r in results],
            [r.enhanced for r in results],
            [r.reply for r in results],
            [r.outcome for r in results],
            [r.mailbox_id for r in results],
        )
        self.stats.results_written += len(results)
