"""Turns a claimed batch into messages ready to send, or results handing jobs back; used by pot_worker.runner.

A breaker permit per job, mailbox rotation, the whole batch's limit reservations in one Redis call,
and rendering, with each recipient's unsubscribe token (`UnsubscribeKeys`, `token_use`).

Every job comes out either `Planned` (limits reserved, bytes rendered) or as the `Result` that hands
it back for later. If Redis or Postgres fails midway, reservations already granted are handed back
before the error propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis.exceptions
from pot_common.api.campaign import ALL_DAYS, Schedule
from pot_common.cache import TtlCache
from pot_common.message import InvalidRecipient, Sender, message_id, render_message
from pot_common.templates import TemplateError
from pot_common.unsubscribe import PLACEHOLDER, TenantKey, make_token, read_key
from pot_common.vault import VaultKV
from pot_common.window import next_opening

from pot_worker import metrics
from pot_worker.breaker import Permit, Permits
from pot_worker.catalog import Campaign, Catalog, Mailbox
from pot_worker.classify import JobState, Outcome, returned_state
from pot_worker.config import WorkerSettings
from pot_worker.credentials import vault_config
from pot_worker.limits import (
    Limiter,
    ReconcileNeeded,
    Refusal,
    Reservation,
    ReservationRequest,
    rotation,
)
from pot_worker.providers import ProviderResolver
from pot_worker.services import REDIS_ERRORS
from pot_worker.store import Job, JobStore, Result

log = logging.getLogger("pot_worker")


@dataclass
class Planned:
    """A job with its limits reserved and its permit taken, about to be sent."""

    job: Job
    mailbox: Mailbox
    reservation: Reservation
    message_id: str
    provider: str
    message: bytes
    permit: Permit


def later(job: Job, retry_at: datetime) -> Result:
    """The job goes back to the queue unsent, its attempt not counted, due again at `retry_at`."""
    return Result(job.id, returned_state(job.attempts), job.attempts, retry_at)


def split_marked(
    planned: Sequence[Planned], marked: set[int], epoch: str | None
) -> tuple[list[Planned], list[Planned], list[Planned]]:
    """After the `sending` mark (pure): (send these, hand these back unsent, forget these).

    Not marked: the claim went to another worker, forget it. Reserved under another epoch than the
    current one: Redis lost its counters since, and the rebuilt ones may not include it.
    """
    send, held, lost = [], [], []
    for p in planned:
        if p.job.id not in marked:
            lost.append(p)
        elif p.reservation.epoch == epoch:
            send.append(p)
        else:
            held.append(p)
    return send, held, lost


# A job past its campaign's schedule.end waits this long: the operator's next scan completes the campaign
# and leaves it unsent.
PAST_END_HOLD = timedelta(hours=1)


@functools.lru_cache(maxsize=1024)
def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def schedule_hold(schedule: Schedule | None, variables: dict[str, object], now: datetime) -> datetime | None:
    """When a claimed job may go under its campaign's schedule (pure): None when it may go now, else the
    time to hand it back for, its recipient's next opening.

    The operator moves each open job to its recipient's next opening on every scan; a job it moved
    before the window shut may still be claimed after. The recipient's zone is its `timezone` cell when
    that names a known zone, else schedule.timeZone, as the operator reads it; DST-correct through
    pot_common.window. Past schedule.end the job waits for the operator to leave it unsent.
    """
    if schedule is None:
        return None
    start = _aware(schedule.start)
    end = _aware(schedule.end)
    if end is not None and now >= end:
        return now + PAST_END_HOLD
    after = max(now, start) if start is not None else now
    cell = str(variables.get("timezone") or "").strip()
    zone = cell if cell and _known_zone(cell) else schedule.time_zone
    opens = dt.time.fromisoformat(schedule.send_from) if schedule.send_from else None
    closes = dt.time.fromisoformat(schedule.send_until) if schedule.send_until else None
    days = sorted(ALL_DAYS.index(d) + 1 for d in set(schedule.days))
    if not _known_zone(zone):
        return None  # the operator holds a campaign whose zone is unknown; nothing to add here
    opening = next_opening(after, opens, closes, zone, days)
    if opening is None or (end is not None and opening >= end):
        return now + PAST_END_HOLD
    return None if opening <= now else opening


def _aware(at: datetime | None) -> datetime | None:
    """RFC 3339 carries an offset; a time without one is read as UTC (as the operator reads it)."""
    return at.replace(tzinfo=dt.UTC) if at is not None and at.tzinfo is None else at


# How long a key, or its absence, is trusted; Vault being away is asked again sooner.
KEY_TTL_SECONDS = 300.0
KEY_RETRY_SECONDS = 30.0
# How long jobs wait when their link needs a token this worker cannot make.
HOLD = timedelta(minutes=1)


def token_use(url: str | None, key: TenantKey) -> str:
    """What the job's unsubscribe link gets (pure): "none" (no https link), "token", "plain" or "hold".

    A link written with `{token}` would go out broken without one, so its jobs wait ("hold") until the
    key can be read. Any other link works without a token, as it did before tokens: while the tenant
    has no usable key it goes out plain (the Campaign's UnsubscribeTokens condition says so), but not
    while Vault is only away, when the key probably exists.
    """
    if not url:
        return "none"
    if key.key is not None:
        return "token"
    if key.temporary or PLACEHOLDER in url:
        return "hold"
    return "plain"


class UnsubscribeKeys:
    """Each tenant's unsubscribe key from Vault (`<prefix>/<tenant>/unsubscribe`, field `key`), cached."""

    def __init__(self, vault: VaultKV, prefix: str, ttl: float = KEY_TTL_SECONDS) -> None:
        self._vault = vault
        self._prefix = prefix
        self._cache: TtlCache[str, TenantKey] = TtlCache(ttl)

    async def get(self, tenant: str) -> TenantKey:
        cached = self._cache.get(tenant)
        if cached is not None and not (
            cached.temporary and (self._cache.age(tenant) or 0) > KEY_RETRY_SECONDS
        ):
            return cached
        found = await read_key(self._vault, tenant, self._prefix)
        self._cache.put(tenant, found)
        if found.problem and (cached is None or cached.problem != found.problem):
            log.warning("Read no unsubscribe key tenant=%s problem=%s", tenant, found.problem)
        return found


class FullCaps:
    """Campaigns and recipient domains at their cap, as the limit script said, until their bucket ends.

    Claims leave those jobs in the queue meanwhile; the script stays the authority on every reservation.
    """

    def __init__(self) -> None:
        self._until: dict[tuple[str, str], datetime] = {}

    def remember(self, job: Job, refusal: Refusal) -> None:
        if refusal.level == "campaign":
            self._until[("campaign", str(job.campaign_id))] = refusal.retry_at
        elif refusal.level == "domain":
            self._until[("domain", job.domain)] = refusal.retry_at

    def known(self, now: datetime) -> tuple[list[int], list[str]]:
        """Campaign ids and domains still at their cap (forgetting those whose bucket has ended)."""
        for key in [k for k, until in self._until.items() if until <= now]:
            del self._until[key]
        campaigns = [int(key) for level, key in self._until if level == "campaign"]
        return campaigns, [key for level, key in self._until if level == "domain"]

    def until(self, job: Job, now: datetime) -> datetime | None:
        """When the job's campaign or domain has room again, if this worker knows it is full."""
        for key in (("campaign", str(job.campaign_id)), ("domain", job.domain)):
            until = self._until.get(key)
            if until is not None and until > now:
                return until
        return None

    def forget_domains(self) -> None:
        self._until = {k: v for k, v in self._until.items() if k[0] != "domain"}

    def forget_campaign(self, campaign_id: int) -> None:
        self._until.pop(("campaign", str(campaign_id)), None)

    def clear(self) -> None:
        self._until.clear()


class Planner:
    """Plans batches for one pool; `reconcile` rebuilds the limit counters when Redis lost them."""

    def __init__(
        self,
        settings: WorkerSettings,
        catalog: Catalog,
        store: JobStore,
        limiter: Limiter,
        providers: ProviderResolver,
        rotation_start: int,
        vault: VaultKV | None = None,
    ) -> None:
        self.settings = settings
        # The runner may share its credentials' Vault client; otherwise one from the same settings.
        self.keys = UnsubscribeKeys(vault or VaultKV(vault_config(settings)), settings.vault_tenant_prefix)
        self.catalog = catalog
        self.store = store
        self.limiter = limiter
        self.providers = providers
        self.full = FullCaps()
        self._rr = rotation_start
        self._label = settings.pool
        self._reconcile_lock = asyncio.Lock()
        self._reconciles = 0

    async def plan(self, jobs: Sequence[Job], now: datetime, permits: Permits) -> list[Planned | Result]:
        """Check circuits, reserve every job's limits in one round trip, render what was reserved."""
        pool = self.catalog.pool
        assert pool is not None
        domains = sorted({j.domain for j in jobs})
        providers = dict(
            zip(domains, await asyncio.gather(*map(self.providers.provider, domains)), strict=True)
        )
        eligible = [m.limits for m in self.catalog.eligible_mailboxes(now)]
        plans: list[Planned | Result | None] = [None] * len(jobs)
        waiting: list[tuple[int, Campaign, Permit, ReservationRequest]] = []
        keys = await self._keys(jobs)
        for n, job in enumerate(jobs):
            campaign = self.catalog.campaigns.get(job.campaign_id)
            if campaign is None:  # paused or finished since the claim
                plans[n] = later(job, now + timedelta(minutes=1))
                continue
            opens_at = schedule_hold(job.schedule, job.variables, now)
            if opens_at is not None:  # its recipient's sending hours closed since the operator's last scan
                plans[n] = later(job, opens_at)
                continue
            key = keys.get(campaign.tenant)
            if key is not None and token_use(campaign.template.unsubscribe_url, key) == "hold":
                plans[n] = self._held(job, key, now)
                continue
            permit = permits.take(providers[job.domain], now)
            if permit is None:
                plans[n] = later(job, permits.retry_at(providers[job.domain], now))
                continue
            candidates = rotation(eligible, self._rr, self.settings.mailbox_candidates)
            self._rr += 1
            known = self.full.until(job, now) if candidates else now + timedelta(minutes=1)
            if known is not None:  # no mailbox, or a cap this worker already saw full: Redis need not say it
                permit.release()  # now, so the next job of this batch may take a half-open probe
                plans[n] = later(job, known)
                continue
            request = ReservationRequest(
                campaign.id,
                campaign.daily_limit,
                campaign.hourly_limit,
                job.domain,
                pool.domain_hourly_limit,
                tuple(candidates),
                now,
            )
            waiting.append((n, campaign, permit, request))
        granted: list[Reservation] = []
        try:
            for _ in range(50):
                if not waiting:
                    break
                outcomes = await self.limiter.reserve_batch([w[3] for w in waiting])
                again = []
                for item, outcome in zip(waiting, outcomes, strict=True):
                    n, campaign, permit, _request = item
                    if isinstance(outcome, ReconcileNeeded):
                        again.append(item)
                    elif isinstance(outcome, Refusal):
                        plans[n] = self._refused(jobs[n], outcome)
                    else:
                        key = keys.get(campaign.tenant)
                        plans[n] = await self._render(jobs[n], campaign, permit, providers, outcome, now, key)
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

    async def _keys(self, jobs: Sequence[Job]) -> dict[str, TenantKey]:
        """The unsubscribe key of every tenant whose campaign in this batch has an unsubscribe link."""
        tenants = set()
        for job in jobs:
            campaign = self.catalog.campaigns.get(job.campaign_id)
            if campaign is not None and campaign.template.unsubscribe_url:
                tenants.add(campaign.tenant)
        return {tenant: await self.keys.get(tenant) for tenant in sorted(tenants)}

    def _held(self, job: Job, key: TenantKey, now: datetime) -> Result:
        """Back to the queue unsent: its link needs a token and the key cannot be read (the reason is
        the job's last reply)."""
        metrics.WORKER_ERRORS.labels(self._label, "unsubscribe_key").inc()
        reply = f"held: unsubscribe link needs a token: {key.problem}"[:500]
        return Result(job.id, returned_state(job.attempts), job.attempts, now + HOLD, None, None, reply)

    def _refused(self, job: Job, refusal: Refusal) -> Result:
        metrics.LIMIT_REFUSALS.labels(self._label, refusal.level).inc()
        self.full.remember(job, refusal)
        return later(job, refusal.retry_at)

    async def _render(
        self,
        job: Job,
        campaign: Campaign,
        permit: Permit,
        providers: dict[str, str],
        reserved: Reservation,
        now: datetime,
        key: TenantKey | None = None,
    ) -> Planned | Result:
        mailbox = self.catalog.mailboxes[reserved.mailbox_id]
        msg_id = message_id(campaign.id, job.id, job.attempts + 1, mailbox.address)
        token = None
        if key is not None and key.key is not None:
            token = make_token(key.key, campaign.tenant, campaign.name, job.recipient)
        try:
            msg = render_message(
                campaign.template,
                Sender(mailbox.address, mailbox.display_name, mailbox.signature),
                job.recipient,
                job.variables,
                msg_id,
                now,
                token=token,
            )
        except (InvalidRecipient, TemplateError) as exc:
            # Neither gets better with a retry: a bad address, or a value the template needs and this
            # recipient lacks (the campaign's check names every placeholder nothing defines).
            await self.limiter.release_many([reserved])
            reason = "invalid recipient" if isinstance(exc, InvalidRecipient) else "not rendered"
            reply = f"{reason}: {exc}"[:500]
            return Result(
                job.id, JobState.FAILED, job.attempts, None, None, None, reply, Outcome.FAILED.value
            )
        return Planned(job, mailbox, reserved, msg_id, providers[job.domain], msg, permit)

    async def reconcile(self, now: datetime) -> None:
        """Rebuild the pool's counters from Postgres after Redis lost them (one worker does it)."""
        pool = self.catalog.pool
        assert pool is not None
        pool_id = pool.id
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        hour_start = now.replace(minute=0, second=0, microsecond=0)

        async def counts() -> list[tuple[str, str, int, int, datetime | None]]:
            return await self.store.reconcile_counts(pool_id, day_start, hour_start)

        # Every job of a batch learns at once that the counters are gone: one of them rebuilds, the
        # others wait for it instead of each asking Redis.
        seen = self._reconciles
        async with self._reconcile_lock:
            if self._reconciles != seen:
                return
            if await self.limiter.try_reconcile(counts, now):
                self._reconciles += 1
                self.full.clear()  # rebuilt counters may have room that the old ones did not
                metrics.WORKER_ERRORS.labels(self._label, "redis_reconciled").inc()
                log.info("Reconciled limit counters from Postgres pool=%s", self._label)
                return
            await asyncio.sleep(0.1)  # another process is rebuilding
            self._reconciles += 1  # let the waiting jobs try their reservation again
