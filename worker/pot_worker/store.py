"""The job store, every Postgres statement the worker runs; used by the runner, catalog, planner, dispatcher.

One round trip each: claim, mark `sending`, write results, heartbeat and reap, hand back on exit. The
SQL is in common/pot_common/db/queries/worker_*.sql.

A write the worker owes (the `sending` mark, results, a mailbox's bad credentials) is retried until
Postgres answers: a live worker never abandons jobs it holds; only a drain past its deadline gives up,
and the leases then expire and the reaper decides.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import pydantic
from pot_common.api.campaign import Schedule
from pot_common.backoff import Backoff
from pot_common.db import apply_schema, query

from pot_worker import metrics
from pot_worker.classify import JobState
from pot_worker.config import WorkerSettings
from pot_worker.services import PG_FAILURES, postgres_pool

log = logging.getLogger("pot_worker")

T = TypeVar("T")


@dataclass
class Job:
    id: int
    campaign_id: int
    recipient: str
    domain: str
    variables: dict[str, Any]
    attempts: int  # attempts before this one
    schedule: Schedule | None = None  # its campaign's spec.schedule, when the row has one


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


@dataclass(frozen=True)
class Mark:
    """One job to mark `sending` (worker_mark_sending.sql): the mailbox and Message-ID it goes with."""

    job_id: int
    mailbox_id: int
    message_id: str
    attempt: int


@dataclass
class Stats:
    """Round trips and sends, read by the benchmark and the tests."""

    pg_round_trips: int = 0
    jobs_claimed: int = 0
    results_written: int = 0  # result rows committed (worker_finish.sql)
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class JobStore:
    """The worker's Postgres side. `open()` first; every call but `release_all` counts its round trips."""

    def __init__(self, settings: WorkerSettings, stats: Stats, backoff: Backoff) -> None:
        self.settings = settings
        self.stats = stats
        self._backoff = backoff
        self._label = settings.pool
        self._worker_id = settings.worker_id
        self._pool: asyncpg.Pool | None = None
        self._deadline: float | None = None  # time.monotonic() after which owed writes give up
        # Campaign schedules as claimed (JSON text -> parsed): few campaigns, parsed once each.
        self._schedules: dict[str, Schedule | None] = {}

    async def open(self) -> None:
        """Connect and apply the schema (idempotent, safe from many processes at once).

        A worker connected as the least-privileged `pot_worker` role (common/pot_common/db/
        worker_role.sql) may not change the schema: then the operator's copy is the one in force.
        """
        self._pool = await postgres_pool(self.settings)
        async with self._pool.acquire() as conn:
            try:
                await apply_schema(conn)
            except asyncpg.InsufficientPrivilegeError:
                log.info("Skipped the schema, this role may not change it worker=%s", self._worker_id)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    @property
    def db(self) -> asyncpg.Pool:
        assert self._pool is not None, "open() first"
        return self._pool

    def give_up_after(self, seconds: float) -> None:
        """Draining: owed writes stop retrying `seconds` from now."""
        self._deadline = time.monotonic() + seconds

    async def _persist(self, what: str, action: Callable[[], Awaitable[T]]) -> T:
        """Run a write the worker owes until it succeeds (see the module's docstring)."""
        failures = 0
        while True:
            try:
                self.stats.pg_round_trips += 1
                return await action()
            except PG_FAILURES as exc:
                metrics.WORKER_ERRORS.labels(self._label, "postgres").inc()
                if self._deadline is not None and time.monotonic() > self._deadline:
                    raise
                failures += 1
                log.warning("Write failed, retrying what=%s error=%s", what, type(exc).__name__)
                await asyncio.sleep(self._backoff.delay(failures))

    # ---- the catalog -----------------------------------------------------------------------------

    async def pool_row(self) -> asyncpg.Record | None:
        self.stats.pg_round_trips += 1
        return await self.db.fetchrow(
            query("worker_pool"), self.settings.pool_namespace, self.settings.pool_name
        )

    async def mailbox_rows(self, pool_id: int) -> list[asyncpg.Record]:
        self.stats.pg_round_trips += 1
        return list(await self.db.fetch(query("worker_mailboxes"), pool_id))

    async def campaign_rows(self, pool_id: int) -> list[asyncpg.Record]:
        self.stats.pg_round_trips += 1
        return list(await self.db.fetch(query("worker_campaigns"), pool_id))

    # ---- one batch -------------------------------------------------------------------------------

    async def claim(
        self,
        pool_id: int,
        now: datetime,
        lease_until: datetime,
        size: int,
        full_campaigns: Sequence[int],
        full_domains: Sequence[str],
    ) -> list[Job]:
        """Up to `size` due jobs, leased to this worker; campaigns and domains known full left out."""
        self.stats.pg_round_trips += 1
        rows = await self.db.fetch(
            query("worker_claim"),
            pool_id,
            self._worker_id,
            now,
            lease_until,
            size,
            list(full_campaigns),
            list(full_domains),
        )
        jobs = [
            Job(
                r["id"],
                r["campaign_id"],
                r["recipient"],
                r["recipient_domain"] or "",
                json.loads(r["variables"]),
                r["attempts"],
                self._schedule(r["schedule"]),
            )
            for r in rows
        ]
        self.stats.jobs_claimed += len(jobs)
        return jobs

    def _schedule(self, text: str | None) -> Schedule | None:
        """A claimed row's campaign schedule; one the worker cannot read holds nothing back (the
        operator's scans still move jobs to their openings) and is logged once."""
        if text is None or text == "null":
            return None
        if text not in self._schedules:
            if len(self._schedules) > 1000:  # campaigns come and go; a schedule edit is a new text
                self._schedules.clear()
            try:
                self._schedules[text] = Schedule.model_validate_json(text)
            except pydantic.ValidationError as exc:
                log.warning("Read no campaign schedule error=%s", exc.errors()[0]["msg"])
                self._schedules[text] = None
        return self._schedules[text]

    async def mark_sending(self, marks: Sequence[Mark], now: datetime, lease_until: datetime) -> set[int]:
        """Write `sending` before any DATA; returns the ids marked (a claim lost to the reaper is not)."""
        # One lock order (by id) for every batch write, or two workers' batches can deadlock.
        marks = sorted(marks, key=lambda m: m.job_id)

        async def mark() -> set[int]:
            rows = await self.db.fetch(
                query("worker_mark_sending"),
                self._worker_id,
                now,
                lease_until,
                [m.job_id for m in marks],
                [m.mailbox_id for m in marks],
                [m.message_id for m in marks],
                [m.attempt for m in marks],
            )
            return {r["id"] for r in rows}

        return await self._persist("sending", mark)

    async def finish(self, results: Sequence[Result], now: Callable[[], datetime]) -> None:
        """Write every result, event and suppression of a batch in one statement."""
        results = sorted(results, key=lambda r: r.job_id)  # the lock order, as in mark_sending

        async def write() -> None:
            await self.db.fetchval(
                query("worker_finish"),
                self._worker_id,
                now(),
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

        await self._persist("results", write)

    async def credentials_bad(self, mailbox_id: int, reason: str, now: datetime, version: int | None) -> None:
        """The SMTP server refused the mailbox's credentials, read from KV `version` (None: unknown)."""
        await self._persist(
            "credentials_bad",
            lambda: self.db.execute(query("worker_credentials_bad"), mailbox_id, reason, now, version),
        )

    async def reconcile_counts(
        self, pool_id: int, day_start: datetime, hour_start: datetime
    ) -> list[tuple[str, str, int, int, datetime | None]]:
        """Today's and this hour's reservations per mailbox, domain and campaign (Limiter.try_reconcile)."""
        self.stats.pg_round_trips += 1
        rows = await self.db.fetch(query("worker_reconcile_counts"), pool_id, day_start, hour_start)
        return [(r["kind"], r["key"], r["day_count"], r["hour_count"], r["last"]) for r in rows]

    # ---- periodic and exit -----------------------------------------------------------------------

    async def heartbeat(
        self,
        pool_id: int,
        started_at: datetime,
        now: datetime,
        lease_until: datetime,
        in_flight: Sequence[int],
    ) -> asyncpg.Record | None:
        """Heartbeat, extend this worker's leases, reap expired ones; the row has the queue lag and
        how many jobs were reaped (`reaped`, `reaped_claimed`)."""
        self.stats.pg_round_trips += 1
        return await self.db.fetchrow(
            query("worker_heartbeat"),
            self._worker_id,
            pool_id,
            socket.gethostname(),
            os.getpid(),
            started_at,
            now,
            lease_until,
            list(in_flight),
        )

    async def release_all(self, now: datetime) -> str:
        """Hand back every job still claimed and delete the heartbeat (a clean exit)."""
        released: str = await self.db.execute(query("worker_release"), self._worker_id, now)
        await self.db.execute(query("worker_goodbye"), self._worker_id)
        return released
