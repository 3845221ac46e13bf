"""Three-level sending limits (inbox, recipient domain, campaign) reserved in one atomic Redis script.

Called by pot_worker.worker: `reserve` once per job (one round trip, rotation included: the script gets
several candidate mailboxes and takes the first with room), `release` when the server did not take the
message, `epoch` once per batch, `reconcile` after Redis lost its counters.

Redis restarts. Counters live only in Redis, so a restarted Redis would let every cap start from zero.
Every pool has an epoch key with no expiry; the reserve script refuses (`reconcile`) while it is missing.
One worker then takes a lock, counts the day's and hour's reservations from Postgres (jobs in
sending/sent/unknown by reserved_at: the worker writes `sending` with reserved_at before DATA), writes
the counters and a new epoch in one MULTI. A reservation made in the old Redis whose `sending` row was
not yet written when Postgres was counted is caught by the per-batch epoch check: the worker compares
the epoch it reserved under with the current one after writing `sending`, and sends nothing if they
differ. The same rebuild runs after a dead worker's claims are reaped (`invalidate`): reservations it
made but never wrote as `sending` would otherwise stay counted. See docs/worker.md ("Redis restart").
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

_RESERVE = r"""
local epoch = redis.call('GET', KEYS[1])
if not epoch then return {-1, 'reconcile', '0'} end
if epoch ~= ARGV[7] then return {-2, 'epoch', epoch} end
local now = tonumber(ARGV[1])
local function full(key, limit)
  if limit < 0 then return false end
  return tonumber(redis.call('GET', key) or '0') + 1 > limit
end
if full(KEYS[2], tonumber(ARGV[2])) then return {0, 'campaign', 'day'} end
if full(KEYS[3], tonumber(ARGV[3])) then return {0, 'campaign', 'hour'} end
if full(KEYS[4], tonumber(ARGV[4])) then return {0, 'domain', 'hour'} end
local n = (#KEYS - 4) / 3
local chosen = 0
local wait = -1
for i = 0, n - 1 do
  local spacing = tonumber(ARGV[10 + 3 * i])
  local day_full = full(KEYS[5 + 3 * i], tonumber(ARGV[8 + 3 * i]))
  if not day_full and not full(KEYS[6 + 3 * i], tonumber(ARGV[9 + 3 * i])) then
    local last = redis.call('GET', KEYS[7 + 3 * i])
    local left = 0
    if last and spacing > 0 then left = tonumber(last) + spacing - now end
    if left <= 0 then chosen = i + 1 break end
    if wait < 0 or left < wait then wait = left end
  end
end
if chosen == 0 then return {0, 'inbox', tostring(wait)} end
local day_ttl, hour_ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local base = 4 + 3 * (chosen - 1)
for _, k in ipairs({KEYS[2], KEYS[base + 1]}) do
  redis.call('INCR', k) redis.call('EXPIRE', k, day_ttl)
end
for _, k in ipairs({KEYS[3], KEYS[4], KEYS[base + 2]}) do
  redis.call('INCR', k) redis.call('EXPIRE', k, hour_ttl)
end
redis.call('SET', KEYS[base + 3], ARGV[1], 'EX', day_ttl)
return {1, tostring(chosen), epoch}
"""

# KEYS: the epoch key, then five counters per reservation; ARGV: each reservation's epoch. A reservation
# from an older epoch is skipped: the counters it touched were rebuilt from Postgres since.
_RELEASE = r"""
local current = redis.call('GET', KEYS[1])
local released = 0
for r = 1, #ARGV do
  if ARGV[r] == current then
    for i = 2 + 5 * (r - 1), 1 + 5 * r do
      if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
    end
    released = released + 1
  end
end
return released
"""

# Garbage collection only: values are compared with the clock, never trusted to expire on time.
_DAY_TTL = 3 * 86400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR_TTL = 86400


@dataclass(frozen=True)
class MailboxLimits:
    id: int
    daily_cap: int
    hourly_cap: int
    min_spacing_seconds: int


@dataclass(frozen=True)
class Reservation:
    """A granted reservation; `keys` are the counters to decrement if it is released."""

    mailbox_id: int
    epoch: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Refusal:
    """`level` is inbox, domain or campaign (the metric label); `retry_at` when to try again."""

    level: str
    retry_at: datetime


class ReconcileNeeded(Exception):
    """Redis has no epoch for the pool: counters must be rebuilt from Postgres first."""


def epoch_us(when: datetime) -> int:
    """Microseconds since the epoch: exact in Lua's doubles, and as precise as Postgres timestamps, so
    spacing measured on reserved_at agrees with spacing enforced here."""
    return (when - _EPOCH) // timedelta(microseconds=1)


def day_bucket(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%d")


def hour_bucket(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%d%H")


def next_hour(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def next_day(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


@dataclass(frozen=True)
class Keys:
    """Redis key names for one pool; every key of a pool shares its prefix."""

    pool_id: int

    @property
    def prefix(self) -> str:
        return f"pot:{self.pool_id}"

    @property
    def epoch(self) -> str:
        return f"{self.prefix}:epoch"

    @property
    def reconcile_lock(self) -> str:
        return f"{self.prefix}:reconcile-lock"

    # Counters live under their epoch: a rebuild starts a fresh set from Postgres, and whatever the old
    # set held (a dead worker's reservations, say) is simply never read again and expires.

    def campaign_day(self, epoch: str, campaign_id: int, now: datetime) -> str:
        return f"{self.prefix}:{epoch}:c:{campaign_id}:d:{day_bucket(now)}"

    def campaign_hour(self, epoch: str, campaign_id: int, now: datetime) -> str:
        return f"{self.prefix}:{epoch}:c:{campaign_id}:h:{hour_bucket(now)}"

    def domain_hour(self, epoch: str, domain: str, now: datetime) -> str:
        return f"{self.prefix}:{epoch}:dom:{domain.lower()}:h:{hour_bucket(now)}"

    def mailbox_day(self, epoch: str, mailbox_id: int, now: datetime) -> str:
        return f"{self.prefix}:{epoch}:mb:{mailbox_id}:d:{day_bucket(now)}"

    def mailbox_hour(self, epoch: str, mailbox_id: int, now: datetime) -> str:
        return f"{self.prefix}:{epoch}:mb:{mailbox_id}:h:{hour_bucket(now)}"

    def mailbox_last(self, epoch: str, mailbox_id: int) -> str:
        return f"{self.prefix}:{epoch}:mb:{mailbox_id}:last"


def rotation(mailboxes: Sequence[MailboxLimits], start: int, count: int) -> list[MailboxLimits]:
    """Up to `count` mailboxes in round-robin order from `start` (pure; the worker advances `start`)."""
    if not mailboxes:
        return []
    n = len(mailboxes)
    return [mailboxes[(start + i) % n] for i in range(min(count, n))]


def _limit(value: int | None) -> int:
    return -1 if value is None else value


def refusal_retry_at(level: str, detail: str, now: datetime) -> datetime:
    """When a refused job is worth trying again (pure)."""
    if detail == "day":
        return next_day(now)
    if detail == "hour" or level != "inbox":
        return next_hour(now)
    wait_us = int(detail)
    if wait_us < 0:  # every candidate mailbox is at its daily or hourly cap
        return min(next_hour(now), now + timedelta(minutes=5))
    return now + timedelta(microseconds=wait_us)


class Limiter:
    """The Redis side of the limits for one pool. Each public call is one round trip."""

    def __init__(self, client: aioredis.Redis, pool_id: int) -> None:
        self.client = client
        self.keys = Keys(pool_id)
        self._reserve = client.register_script(_RESERVE)
        self._release = client.register_script(_RELEASE)
        self._epoch: str | None = None  # the counters' epoch as last seen; the script corrects it
        self.round_trips = 0

    async def reserve(
        self,
        *,
        campaign_id: int,
        campaign_daily: int | None,
        campaign_hourly: int | None,
        domain: str,
        domain_hourly: int | None,
        candidates: Sequence[MailboxLimits],
        now: datetime,
    ) -> Reservation | Refusal:
        """All three levels or nothing, first fitting candidate mailbox taken.

        The counters' names carry the epoch this process last saw; the script refuses a stale one and
        names the current epoch, so a rebuild costs each process one extra round trip.
        """
        for _ in range(5):
            epoch = self._epoch or ""
            k = self.keys
            keys = [
                k.epoch,
                k.campaign_day(epoch, campaign_id, now),
                k.campaign_hour(epoch, campaign_id, now),
                k.domain_hour(epoch, domain, now),
            ]
            args: list[int | str] = [
                epoch_us(now),
                _limit(campaign_daily),
                _limit(campaign_hourly),
                _limit(domain_hourly),
                _DAY_TTL,
                _HOUR_TTL,
                epoch,
            ]
            for mb in candidates:
                keys += [k.mailbox_day(epoch, mb.id, now), k.mailbox_hour(epoch, mb.id, now)]
                keys.append(k.mailbox_last(epoch, mb.id))
                args += [mb.daily_cap, mb.hourly_cap, mb.min_spacing_seconds * 1_000_000]
            self.round_trips += 1
            status, first, second = await self._reserve(keys=keys, args=args)
            status = int(status)
            first = first.decode() if isinstance(first, bytes) else str(first)
            second = second.decode() if isinstance(second, bytes) else str(second)
            if status == -2:
                self._epoch = second
                continue
            if status < 0:
                self._epoch = None
                raise ReconcileNeeded
            if status == 0:
                return Refusal(first, refusal_retry_at(first, second, now))
            mb = candidates[int(first) - 1]
            counted = (
                keys[1],
                keys[2],
                keys[3],
                k.mailbox_day(epoch, mb.id, now),
                k.mailbox_hour(epoch, mb.id, now),
            )
            return Reservation(mb.id, second, counted)
        raise ReconcileNeeded  # the epoch changed under us again and again: rebuilding is in progress

    async def release_many(self, reservations: Iterable[Reservation]) -> None:
        """Give reservations back in one script call; a stale epoch makes one a no-op."""
        items = list(reservations)
        if not items:
            return
        keys = [self.keys.epoch]
        for r in items:
            keys.extend(r.keys)
        self.round_trips += 1
        await self._release(keys=keys, args=[r.epoch for r in items])

    async def invalidate(self) -> None:
        """Forget the epoch, so the next reservation rebuilds every counter from Postgres first.

        Called when a dead worker's claims are reaped: reservations it made before writing `sending`
        are counted here but can never be released, which would waste capacity until the bucket ends.
        """
        self.round_trips += 1
        await self.client.delete(self.keys.epoch)

    async def epoch(self) -> str | None:
        self.round_trips += 1
        value = await self.client.get(self.keys.epoch)
        return value.decode() if isinstance(value, bytes) else value

    async def try_reconcile(
        self,
        counts: Callable[[], Awaitable[Iterable[tuple[str, str, int, int, datetime | None]]]],
        now: datetime,
    ) -> bool:
        """Write counters rebuilt from Postgres and a new epoch, if this worker holds the lock.

        `counts()` gives rows (kind, key, count today, count this hour, last reservation), kind being
        mailbox, domain or campaign; it is called only under the lock, after checking the epoch is still
        missing, so no reservation can slip between the count and the write. Returns False when another
        worker is reconciling or already has.
        """
        token = secrets.token_hex(8)
        if not await self.client.set(self.keys.reconcile_lock, token, nx=True, px=30_000):
            return False
        try:
            if await self.client.exists(self.keys.epoch):
                return False
            rows = await counts()
            pipe = self.client.pipeline(transaction=True)
            k = self.keys
            for kind, key, day_count, hour_count, last in rows:
                if kind == "mailbox":
                    mid = int(key)
                    pipe.set(k.mailbox_day(token, mid, now), day_count, ex=_DAY_TTL)
                    pipe.set(k.mailbox_hour(token, mid, now), hour_count, ex=_HOUR_TTL)
                    if last is not None:
                        pipe.set(k.mailbox_last(token, mid), epoch_us(last), ex=_DAY_TTL)
                elif kind == "campaign":
                    cid = int(key)
                    pipe.set(k.campaign_day(token, cid, now), day_count, ex=_DAY_TTL)
                    pipe.set(k.campaign_hour(token, cid, now), hour_count, ex=_HOUR_TTL)
                else:
                    pipe.set(k.domain_hour(token, key, now), hour_count, ex=_HOUR_TTL)
            pipe.set(self.keys.epoch, token)
            await pipe.execute()
            self._epoch = token
            return True
        finally:
            # Delete only our own lock; a slow reconcile may have outlived it.
            if await self.client.get(self.keys.reconcile_lock) in (token, token.encode()):
                await self.client.delete(self.keys.reconcile_lock)
