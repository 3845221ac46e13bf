"""Three-level sending limits (inbox, recipient domain, campaign) reserved in one atomic Redis script.

Called by pot_worker.planner and .runner: `reserve_batch` once per batch (one round trip; each job all or
nothing, rotation included: the script gets several candidate mailboxes per job and takes the first with
room), `release_many` when the server did not take a message, `epoch` once per batch, `try_reconcile`
after Redis lost its counters, `invalidate` after a dead worker's claims were reaped. The Lua is in
pot_worker.limit_scripts.

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
from typing import Generic, TypeVar

import redis.asyncio as aioredis
import redis.exceptions

from pot_worker.limit_scripts import RELEASE, RESERVE

K = TypeVar("K", int, str)

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


@dataclass(frozen=True)
class ReservationRequest:
    """One job's reservation: its campaign's and domain's limits and the mailboxes to try, in order."""

    campaign_id: int
    campaign_daily: int | None
    campaign_hourly: int | None
    domain: str
    domain_hourly: int | None
    candidates: tuple[MailboxLimits, ...]
    now: datetime


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class _Call:
    """One batch script call and what is needed to read its reply."""

    keys: list[str]
    args: list[str]
    mailbox_ids: list[int]  # the script's mailbox numbers, 1-based, in this order
    mailbox_keys: list[str]  # day, hour, last per mailbox
    counted: list[tuple[str, str, str]]  # per request: campaign day, campaign hour, domain hour

    def outcome(self, n: int, now: datetime, epoch: str, reply: list[object]) -> Reservation | Refusal:
        status, first, second = int(_text(reply[0])), _text(reply[1]), _text(reply[2])
        if status == 0:
            return Refusal(first, refusal_retry_at(first, second, now))
        m = int(first) - 1
        keys = (*self.counted[n], self.mailbox_keys[3 * m], self.mailbox_keys[3 * m + 1])
        return Reservation(self.mailbox_ids[m], epoch, keys)


class _Listing(Generic[K]):
    """The distinct campaigns, domains or mailboxes of one script call: their 1-based positions in
    first-seen order, their counter keys and their limits, as the script's KEYS and ARGV list them."""

    __slots__ = ("keys", "limits", "positions")

    def __init__(self) -> None:
        self.positions: dict[K, int] = {}
        self.keys: list[str] = []
        self.limits: list[str] = []

    def add(self, key: K, counters: tuple[str, ...], limits: str) -> int:
        position = self.positions[key] = len(self.positions) + 1
        self.keys.extend(counters)
        self.limits.append(limits)
        return position


class Limiter:
    """The Redis side of the limits for one pool. Each public call is one round trip; `reserve_batch`
    reserves for a whole batch of jobs in one script call."""

    def __init__(self, client: aioredis.Redis, pool_id: int) -> None:
        self.client = client
        self.keys = Keys(pool_id)
        self._reserve = client.register_script(RESERVE)
        self._release = client.register_script(RELEASE)
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
        """One job's reservation; raises ReconcileNeeded when the counters must be rebuilt first."""
        request = ReservationRequest(
            campaign_id, campaign_daily, campaign_hourly, domain, domain_hourly, tuple(candidates), now
        )
        (outcome,) = await self.reserve_batch([request])
        if isinstance(outcome, ReconcileNeeded):
            raise outcome
        return outcome

    async def reserve_batch(
        self, requests: Sequence[ReservationRequest]
    ) -> list[Reservation | Refusal | ReconcileNeeded]:
        """All three levels or nothing for each request, in order, first fitting candidate mailbox
        taken; one round trip (more only after an epoch change or a Redis restart). ReconcileNeeded
        for those that must wait for the counters to be rebuilt from Postgres."""
        return await self._reserve_all(list(requests)) if requests else []

    def _batch_call(self, requests: list[ReservationRequest], epoch: str) -> _Call:
        """KEYS and ARGV of one script call for requests sharing one `now` (see RESERVE)."""
        k, now = self.keys, requests[0].now
        day, hour = day_bucket(now), hour_bucket(now)
        campaigns: _Listing[int] = _Listing()
        domains: _Listing[str] = _Listing()
        mailboxes: _Listing[int] = _Listing()
        jobs: list[str] = []
        counted: list[tuple[str, str, str]] = []
        prefix = f"{k.prefix}:{epoch}"
        for r in requests:
            cid = r.campaign_id
            c = campaigns.positions.get(cid) or campaigns.add(
                cid,
                (f"{prefix}:c:{cid}:d:{day}", f"{prefix}:c:{cid}:h:{hour}"),
                f"{_limit(r.campaign_daily)} {_limit(r.campaign_hourly)}",
            )
            domain = r.domain.lower()
            d = domains.positions.get(domain) or domains.add(
                domain, (f"{prefix}:dom:{domain}:h:{hour}",), str(_limit(r.domain_hourly))
            )
            counted.append((campaigns.keys[2 * c - 2], campaigns.keys[2 * c - 1], domains.keys[d - 1]))
            spec = [str(c), str(d)]
            for mb in r.candidates:
                m = mailboxes.positions.get(mb.id) or mailboxes.add(
                    mb.id,
                    (
                        f"{prefix}:mb:{mb.id}:d:{day}",
                        f"{prefix}:mb:{mb.id}:h:{hour}",
                        f"{prefix}:mb:{mb.id}:last",
                    ),
                    f"{mb.daily_cap} {mb.hourly_cap} {mb.min_spacing_seconds * 1_000_000}",
                )
                spec.append(str(m))
            jobs.append(" ".join(spec))
        keys = [k.epoch, *campaigns.keys, *domains.keys, *mailboxes.keys]
        args = [
            str(epoch_us(now)),
            str(_DAY_TTL),
            str(_HOUR_TTL),
            epoch,
            f"{len(campaigns.positions)} {len(domains.positions)} {len(mailboxes.positions)}",
            " ".join(campaigns.limits),
            " ".join(domains.limits),
            " ".join(mailboxes.limits),
            *jobs,
        ]
        return _Call(keys, args, list(mailboxes.positions), mailboxes.keys, counted)

    async def _reserve_all(
        self, requests: list[ReservationRequest]
    ) -> list[Reservation | Refusal | ReconcileNeeded]:
        """One round trip for all requests (more only after an epoch change or a Redis restart)."""
        outcomes: list[Reservation | Refusal | ReconcileNeeded | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        for _ in range(5):
            if not pending:
                break
            epoch = self._epoch or ""
            groups: dict[datetime, list[int]] = {}
            for i in pending:
                groups.setdefault(requests[i].now, []).append(i)
            pipe = self.client.pipeline(transaction=False)
            calls = []
            for members in groups.values():
                call = self._batch_call([requests[i] for i in members], epoch)
                calls.append(call)
                pipe.evalsha(self._reserve.sha, len(call.keys), *call.keys, *call.args)
            self.round_trips += 1
            replies = await pipe.execute(raise_on_error=False)
            if any(isinstance(r, redis.exceptions.NoScriptError) for r in replies):
                self.round_trips += 1
                await self.client.script_load(RESERVE)  # Redis restarted: scripts are gone too
                continue
            retry: list[int] = []
            for members, call, reply in zip(groups.values(), calls, replies, strict=True):
                if isinstance(reply, Exception):
                    raise reply
                status = int(reply[0])
                detail = _text(reply[1])
                if status == -2:
                    self._epoch = detail
                    retry += members
                    continue
                if status < 0:
                    self._epoch = None
                    for i in members:
                        outcomes[i] = ReconcileNeeded()
                    continue
                for n, i in enumerate(members):
                    outcomes[i] = call.outcome(n, requests[i].now, detail, reply[2 + 3 * n : 5 + 3 * n])
            pending = retry
        # The epoch changed under us again and again: a rebuild is in progress.
        return [ReconcileNeeded() if o is None else o for o in outcomes]

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
