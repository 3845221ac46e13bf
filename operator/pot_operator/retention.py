"""Bounded Postgres growth: the sweeper deleting delivery events, send jobs and inbox messages past the
retention, and the rule that lets an ended campaign's history go without changing its status.

Started by pot_operator.main's startup handler as a background task (`run_sweeper`), cancelled at
cleanup; `sweep` is the whole of one pass and is what the integration test and bench/claims_history.py
call. pot_operator.campaign.apply asks `counts_final_due` when an ended campaign's counts may be
written on its row. Decisions are pure functions here; the SQL is in sql/retention_*.sql.

What goes (docs/operator.md "Retention"):
- delivery_events older than the retention, in batches of BATCH rows, oldest first. The outcomes a
  Campaign's status counts (reply, late_bounce, complaint, auto_reply: campaign_counts.sql) stay while
  their campaign still has send jobs, so a counted reply goes only once nothing counts it live.
- send jobs no status reads: those of an *ended* campaign once its counts are frozen on its row (by
  job state when it ended, written by the campaign scan; its feedback counts the retention after
  that, written here by `freeze_feedback`), and those of a *retired* campaign (final, last changed
  more than the retention ago, its Campaign object gone). Jobs still being sent ('claimed',
  'sending') are never touched.
- inbox_messages read more than the retention ago whose send job is gone (or that never had one).
Never touched: suppressions, suppression lists, campaigns, mailboxes, pools, recipients.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
from pot_common.api.pool import HealthPolicy
from pot_deliverability.emailcheck.job import SWEEP_RUN_ADDRESSES, sweep_arguments
from prometheus_client import Counter

from pot_operator import db

if TYPE_CHECKING:
    from pot_operator.runtime import Runtime

log = logging.getLogger(__name__)

deleted_total = Counter("pot_retention_deleted", "Rows the retention sweeper deleted, per table", ["table"])

# Rows per DELETE: each is its own short transaction (milliseconds of row locks, a bounded WAL burst).
BATCH = 10_000
# Between batches, so the sweeper never takes a core or the WAL writer for long.
PAUSE_SECONDS = 0.1
# The first pass waits for the operator to settle; then one pass per interval.
FIRST_DELAY_SECONDS = 60.0
INTERVAL_SECONDS = 3600.0
# The outcomes campaign_counts.sql counts into a Campaign's status (the inbox feedback).
COUNTED_OUTCOMES = ("reply", "late_bounce", "complaint", "auto_reply")
DAY_SECONDS = 86_400


def _longest_health_window_seconds() -> int:
    """The largest spec.health.windowSeconds the API admits (the CRD enforces the same bound)."""
    for bound in HealthPolicy.model_fields["window_seconds"].metadata:
        le = getattr(bound, "le", None)
        if le is not None:
            return int(le)
    raise RuntimeError("HealthPolicy.window_seconds has no upper bound")  # pragma: no cover


LONGEST_HEALTH_WINDOW_SECONDS = _longest_health_window_seconds()
# The shortest retention allowed: the longest health window any pool may set, plus the UTC day the
# "sent today" count reads, so health counts never lose an event they read.
MIN_RETENTION_DAYS = math.ceil(LONGEST_HEALTH_WINDOW_SECONDS / DAY_SECONDS) + 1


def cutoff(now: dt.datetime, retention_days: int) -> dt.datetime:
    """What is older than this goes (pure); never closer to `now` than MIN_RETENTION_DAYS."""
    return now - dt.timedelta(days=max(retention_days, MIN_RETENTION_DAYS))


@dataclasses.dataclass(frozen=True)
class LiveCampaigns:
    """The Campaign objects that exist, as (namespace, name, uid) columns for the SQL's unnest."""

    namespaces: list[str]
    names: list[str]
    uids: list[str]

    @classmethod
    def from_objects(cls, items: Iterable[Mapping[str, Any]]) -> LiveCampaigns:
        """From listed Campaign objects (pure)."""
        rows = sorted(
            {
                (str(meta.get("namespace") or ""), str(meta.get("name") or ""), str(meta.get("uid") or ""))
                for meta in (item.get("metadata") or {} for item in items)
            }
        )
        return cls([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


@dataclasses.dataclass
class SweepResult:
    events: int = 0
    jobs: int = 0
    inbox_messages: int = 0
    frozen: int = 0  # ended campaigns whose feedback counts this pass froze
    batches: int = 0
    seconds: float = 0.0


# The phases after which a campaign sends nothing more (pot_operator.campaign.plan.decide_phase).
ENDED_PHASES = ("Completed", "Failed")


def counts_final_due(previous_phase: str | None, phase: str, counts: Mapping[str, Any]) -> bool:
    """Whether this scan writes the campaign's counts by job state on its row, for good (pure).

    It has ended, and had already on the scan before (a job claimed as it ended has had a whole scan
    interval to finish), no job is in a worker's hands, and they are not written yet."""
    return (
        phase in ENDED_PHASES
        and previous_phase == phase
        and int(counts.get("in_flight") or 0) == 0
        and not counts.get("final")
    )


def more_to_do(deleted: int, batch: int) -> bool:
    """A full batch may leave more behind; a short one emptied the range (pure)."""
    return deleted >= batch


async def _in_batches(
    table: str, one: Callable[[], Awaitable[int]], batch: int, pause: float, result: SweepResult
) -> int:
    """Run `one` (a statement deleting at most `batch` rows) until a batch comes back short."""
    total = 0
    while True:
        deleted = await one()
        total += deleted
        result.batches += 1
        if deleted:
            deleted_total.labels(table).inc(deleted)
        if not more_to_do(deleted, batch):
            return total
        await asyncio.sleep(pause)


async def sweep_events(
    database: asyncpg.Pool,
    before: dt.datetime,
    *,
    batch: int = BATCH,
    pause: float = PAUSE_SECONDS,
    result: SweepResult | None = None,
) -> int:
    """Delete delivery_events older than `before`, oldest first, `batch` rows per statement.

    Each batch starts where the last one ended (`at` >= its newest row), so rows kept for their
    campaign's counts are walked past once per pass, not once per batch.
    """
    since: dt.datetime | None = None

    async def one() -> int:
        nonlocal since
        row = await database.fetchrow(
            db.sql("retention_events"), before, since, batch, list(COUNTED_OUTCOMES)
        )
        if row["deleted"]:
            since = row["newest"]
        return int(row["deleted"])

    return await _in_batches("delivery_events", one, batch, pause, result or SweepResult())


async def sweep_jobs(
    database: asyncpg.Pool,
    before: dt.datetime,
    live: LiveCampaigns | None,
    namespaces: Sequence[str],
    *,
    batch: int = BATCH,
    pause: float = PAUSE_SECONDS,
    result: SweepResult | None = None,
) -> int:
    """Delete the send jobs of frozen campaigns and of campaigns retired before `before` (in
    `namespaces`; empty: all). Without `live` (the Campaign objects unknown) only frozen ones go."""
    known = live or LiveCampaigns([], [], [])

    async def one() -> int:
        return int(
            await database.fetchval(
                db.sql("retention_jobs"),
                before,
                batch,
                known.namespaces,
                known.names,
                known.uids,
                list(namespaces),
                live is not None,
            )
        )

    return await _in_batches("send_jobs", one, batch, pause, result or SweepResult())


async def freeze_feedback(
    database: asyncpg.Pool, before: dt.datetime, namespaces: Sequence[str], *, batch: int = 100
) -> int:
    """Freeze the feedback counts of campaigns that ended before `before`: each is read as its status
    reads it and written on its row, which its status reads from then on. Returns how many."""
    frozen = 0
    while True:
        ids = [
            r["id"]
            for r in await database.fetch(db.sql("retention_unfrozen"), before, list(namespaces), batch)
        ]
        for campaign_id in ids:
            counts = await db.campaign_counts(database, campaign_id)
            frozen += await db.freeze_feedback(database, campaign_id, counts)
        if not more_to_do(len(ids), batch):
            return frozen


async def sweep_inbox(
    database: asyncpg.Pool,
    before: dt.datetime,
    *,
    batch: int = BATCH,
    pause: float = PAUSE_SECONDS,
    result: SweepResult | None = None,
) -> int:
    """Delete inbox_messages read before `before` that guard no send job any more."""

    async def one() -> int:
        return int(await database.fetchval(db.sql("retention_inbox"), before, batch))

    return await _in_batches("inbox_messages", one, batch, pause, result or SweepResult())


async def sweep(
    database: asyncpg.Pool,
    now: dt.datetime,
    retention_days: int,
    live: LiveCampaigns | None,
    namespaces: Sequence[str] = (),
    *,
    batch: int = BATCH,
    pause: float = PAUSE_SECONDS,
) -> SweepResult:
    """One pass: old events; the feedback of campaigns ended before the cutoff frozen; the jobs nothing
    reads (a retired campaign's only when `live` is known: without the list of existing Campaigns it
    cannot be proven history); old inbox messages whose job is gone."""
    before = cutoff(now, retention_days)
    result = SweepResult()
    started = time.monotonic()
    # Events first: a job's old events are gone before the job, so its deletion has little to unlink.
    result.events = await sweep_events(database, before, batch=batch, pause=pause, result=result)
    result.frozen = await freeze_feedback(database, before, namespaces)
    result.jobs = await sweep_jobs(
        database, before, live, namespaces, batch=batch, pause=pause, result=result
    )
    if result.jobs:
        # The counted feedback of campaigns that just lost their jobs is no longer counted live anywhere.
        result.events += await sweep_events(database, before, batch=batch, pause=pause, result=result)
    # Last: the messages of the jobs that just went are unlinked now (ON DELETE SET NULL).
    result.inbox_messages = await sweep_inbox(database, before, batch=batch, pause=pause, result=result)
    result.seconds = time.monotonic() - started
    return result


async def live_campaigns(rt: Runtime) -> LiveCampaigns | None:
    """The Campaign objects in the served namespaces, or None when the API server cannot say."""
    items: list[dict[str, Any]] = []
    try:
        for served in rt.settings.namespaces or (None,):
            items.extend(await rt.kube.list_objects("campaigns", served))
    except Exception as e:  # the API server's trouble: this pass keeps every job
        log.warning("Listed campaigns for retention failed: error=%s", type(e).__name__)
        return None
    return LiveCampaigns.from_objects(items)


async def sweep_once(rt: Runtime, now: dt.datetime) -> SweepResult | None:
    """One pass with the operator's clients; None when Postgres is unreachable (tried next time)."""
    database = await rt.database()
    if database is None:
        log.warning("Swept history skipped: %s", rt.db_error or "Postgres unreachable")
        return None
    live = await live_campaigns(rt)
    days = rt.settings.events_retention_days
    result = await sweep(database, now, days, live, rt.settings.namespaces)
    # Verification address lists nobody can need any more (a potctl that died, a superseded run).
    runs = int(await database.fetchval(SWEEP_RUN_ADDRESSES, *sweep_arguments(None)))
    if runs:
        log.info("Swept verification address lists: runs=%d", runs)
    log.info(
        "Swept history: retention_days=%d before=%s delivery_events=%d campaigns_frozen=%d send_jobs=%d%s "
        "inbox_messages=%d batches=%d seconds=%.1f",
        days,
        cutoff(now, days).isoformat(timespec="seconds"),
        result.events,
        result.frozen,
        result.jobs,
        "" if live is not None else " (retired campaigns' jobs kept: campaigns not listed)",
        result.inbox_messages,
        result.batches,
        result.seconds,
    )
    return result


async def run_sweeper(rt: Runtime) -> None:
    """Sweep every INTERVAL_SECONDS until cancelled; a failed pass is logged and tried again."""
    await asyncio.sleep(FIRST_DELAY_SECONDS)
    while True:
        try:
            await sweep_once(rt, dt.datetime.now(dt.UTC))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Swept history failed; trying again in %.0fs", INTERVAL_SECONDS)
        await asyncio.sleep(INTERVAL_SECONDS)
