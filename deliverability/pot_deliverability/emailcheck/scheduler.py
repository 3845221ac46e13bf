"""The checker's probe scheduler: keeps every connection politeness allows busy, and nothing more.

checker.py submits (address, MX hosts) and awaits the outcome. Addresses wait in one queue per MX host;
whenever a host may take another session (pacing.py decides), a session starts there and asks the
host about one queued address after another (recipients of several domains, if the host serves them)
until its queue is empty or the session's budget is spent. A 4xx answer is put back with a time to
retry, so nothing holds a connection or a worker while it waits; a host that cannot be reached passes
its addresses on to their next MX.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pot_common.addresses import Syntax

from pot_deliverability import mx
from pot_deliverability.dns import DnsTemporaryError, Resolver
from pot_deliverability.emailcheck.model import CheckerSettings, Verdict
from pot_deliverability.emailcheck.pacing import Politeness
from pot_deliverability.emailcheck.probe import (
    NoConnection,
    Refused,
    Session,
    SmtpErrors,
    classify_rcpt,
    mailbox_full,
    reply_text,
    too_many_recipients,
)

SESSION_TRIES = 2  # sessions that may break under one address before its host counts as failed for it


@dataclass(frozen=True)
class Outcome:
    """What probing said about an address; `catch_all` only ever goes with VALID."""

    verdict: Verdict
    why: str
    reply: str = ""
    catch_all: bool = False


@dataclass(eq=False)
class Probe:
    """One address on its way through the hosts of its domain."""

    syntax: Syntax
    hosts: tuple[str, ...]
    done: asyncio.Future[Outcome]
    host_index: int = 0
    attempts: int = 0  # RCPTs answered with a temporary failure so far
    broken_sessions: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.hosts[self.host_index]


@functools.lru_cache(maxsize=65536)
def _provider(host: str) -> str:
    return mx.provider_group(host)


class Scheduler:
    """One per checker run. `stats` counts sessions, RCPTs and sessions that used TLS."""

    def __init__(
        self, settings: CheckerSettings, resolver: Resolver, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.resolver = resolver
        self.clock = clock
        self.politeness = Politeness(
            settings.per_host_concurrency,
            settings.per_host_interval_s,
            settings.per_provider_concurrency,
            settings.global_concurrency,
        )
        self.queues: dict[str, deque[Probe]] = {}
        self.retries: list[tuple[float, int, Probe]] = []
        self.failed_hosts: dict[str, str] = {}  # host -> why no session could be had with it
        self.no_tls: set[str] = set()  # hosts whose STARTTLS failed: talk to them in the clear
        self.catch_all: dict[str, asyncio.Future[bool]] = {}
        self.stats = {"sessions": 0, "rcpts": 0, "tls_sessions": 0}
        self._addresses: dict[str, asyncio.Future[list[str]]] = {}
        self._sessions: set[asyncio.Task[None]] = set()
        self._sequence = itertools.count()
        self._wake: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None

    async def probe(self, syntax: Syntax, hosts: tuple[str, ...]) -> Outcome:
        """The outcome for one address whose domain's MX hosts are `hosts`, in preference order."""
        probe = Probe(syntax, hosts, asyncio.get_running_loop().create_future())
        self._enqueue(probe)
        return await probe.done

    # --- the dispatcher -------------------------------------------------------------------------------

    def _enqueue(self, probe: Probe, *, front: bool = False) -> None:
        while probe.host in self.failed_hosts:
            if not self._next_host(probe, self.failed_hosts[probe.host]):
                return
        queue = self.queues.setdefault(probe.host, deque())
        queue.appendleft(probe) if front else queue.append(probe)
        self._poke()

    def _poke(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._dispatch())

    async def _dispatch(self) -> None:
        """Start every session politeness allows now; sleep until a session ends, a retry is due, a
        host's interval passes or new work arrives; stop when nothing is queued or waiting."""
        assert self._wake is not None
        while self.queues or self.retries or self._sessions:
            self._wake.clear()
            now = self.clock()
            while self.retries and self.retries[0][0] <= now:
                self._enqueue(heapq.heappop(self.retries)[2])
            soonest = self.retries[0][0] - now if self.retries else None
            for host in list(self.queues):
                queue = self.queues[host]
                while queue:
                    wait = self.politeness.wait(host, _provider(host), now)
                    if wait != 0:
                        if wait > 0:
                            soonest = wait if soonest is None else min(soonest, wait)
                        break
                    self._start_session(host, queue.popleft())
                if not queue:
                    del self.queues[host]
                else:  # round robin: a host that had its turn goes to the back
                    self.queues[host] = self.queues.pop(host)
            if not (self.queues or self.retries or self._sessions):
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), soonest)

    def _start_session(self, host: str, first: Probe) -> None:
        self.politeness.start(host, _provider(host), self.clock())
        task = asyncio.create_task(self._session(host, first))
        self._sessions.add(task)
        task.add_done_callback(self._session_ended)

    def _session_ended(self, task: asyncio.Task[None]) -> None:
        self._sessions.discard(task)
        if self._wake is not None:
            self._wake.set()

    # --- one session ----------------------------------------------------------------------------------

    async def _session(self, host: str, probe: Probe) -> None:
        session = Session(self.settings)
        try:
            if not await self._open(session, host, probe):
                return
            self.politeness.connected(host, self.clock())
            self.stats["sessions"] += 1
            self.stats["tls_sessions"] += session.tls
            asked = rejected = 0
            current: Probe | None = probe
            while current is not None:
                try:
                    code, message = await session.rcpt(current.syntax.normalized)
                except SmtpErrors as exc:
                    self._broken(current, host, exc)
                    return
                asked += 1
                self.stats["rcpts"] += 1
                if too_many_recipients(code, message):
                    self._enqueue(current, front=True)  # not this address's answer: ask it again
                    return
                reply = reply_text(code, message)
                if code in (250, 251):
                    try:
                        catch_all, probed = await self._catch_all(session, current)
                    except SmtpErrors:
                        self._finish(current, Outcome(*classify_rcpt(code, message), reply))
                        return
                    asked += probed
                    rejected += probed and not catch_all
                    self._finish(current, Outcome(*classify_rcpt(code, message), reply, catch_all))
                elif 400 <= code < 500 and not mailbox_full(code, message):
                    self._temporary(current, code, message)
                    if code == 421:  # the server is closing the connection
                        return
                else:
                    rejected += code >= 500
                    self._finish(current, Outcome(*classify_rcpt(code, message), reply))
                current = None
                queue = self.queues.get(host)
                if (
                    queue
                    and asked < self.settings.rcpts_per_session
                    and rejected < self.settings.errors_per_session
                ):
                    current = queue.popleft()
        finally:
            await session.close()
            self.politeness.end(host, _provider(host))

    async def _open(self, session: Session, host: str, probe: Probe) -> bool:
        """Open the session; on failure settle `probe` (and the host's queue) and say False."""
        try:
            addresses = await self._host_addresses(host)
        except DnsTemporaryError as exc:
            self._host_failed(host, probe, f"{host}: DNS did not answer: {exc}")
            return False
        starttls = host not in self.no_tls
        while True:
            try:
                await session.open(host, addresses, starttls=starttls)
                return True
            except NoConnection as exc:
                self._host_failed(host, probe, str(exc))
            except Refused as exc:  # MAIL FROM:<> refused: the answer for this address, as the server gave it
                if 400 <= exc.code < 500:
                    self._temporary(probe, exc.code, exc.message)
                else:
                    self._finish(probe, Outcome(*classify_rcpt(exc.code, exc.message), str(exc)))
            except SmtpErrors as exc:
                await session.close()
                if session.tried_tls and starttls:  # STARTTLS broke the session: once more in the clear
                    self.no_tls.add(host)
                    starttls = False
                    continue
                self._broken(probe, host, exc)
            return False

    async def _catch_all(self, session: Session, probe: Probe) -> tuple[bool, int]:
        """Once per domain: does it accept a local part nobody has? (the answer, RCPTs this session sent)

        Other sessions wait for the session that asks; a broken connection raises, and the next valid
        address of the domain asks again."""
        if not self.settings.catch_all_check:
            return False, 0
        domain = probe.syntax.domain
        if domain in self.catch_all:
            return await asyncio.shield(self.catch_all[domain]), 0
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.catch_all[domain] = future
        try:
            code, _ = await session.rcpt(f"pot-nobody-{secrets.token_hex(6)}@{domain}")
        except BaseException:
            del self.catch_all[domain]
            future.cancel()
            raise
        self.stats["rcpts"] += 1
        future.set_result(code in (250, 251))
        return future.result(), 1

    # --- what happens to an address -------------------------------------------------------------------

    def _finish(self, probe: Probe, outcome: Outcome) -> None:
        if not probe.done.done():
            probe.done.set_result(outcome)

    def _temporary(self, probe: Probe, code: int, message: str) -> None:
        """A 4xx: ask again `greylist_delay_s` later (greylisting wants exactly that), without holding
        anything meanwhile, or give up after `greylist_retries` retries."""
        probe.attempts += 1
        if probe.attempts > self.settings.greylist_retries:
            why = f"temporary failure after {probe.attempts} attempts (greylisting?)"
            self._finish(probe, Outcome(Verdict.UNKNOWN, why, reply_text(code, message)))
            return
        due = self.clock() + self.settings.greylist_delay_s
        heapq.heappush(self.retries, (due, next(self._sequence), probe))
        self._poke()

    def _broken(self, probe: Probe, host: str, exc: BaseException) -> None:
        """The connection broke under this address: try it in a new session, then at the next MX."""
        probe.broken_sessions += 1
        if probe.broken_sessions < SESSION_TRIES:
            self._enqueue(probe, front=True)
        elif self._next_host(probe, f"{host}: {exc.__class__.__name__}: {exc}".rstrip(": ")):
            self._enqueue(probe)

    def _host_failed(self, host: str, probe: Probe, why: str) -> None:
        """No session to `host` at all: it stays failed for this run, and its queue moves on."""
        self.failed_hosts[host] = why
        waiting = [probe, *self.queues.pop(host, ())]
        for each in waiting:
            if self._next_host(each, why):
                self._enqueue(each)

    def _next_host(self, probe: Probe, why: str) -> bool:
        """Move to the next MX host; False (and the outcome settled) when there is none."""
        if why not in probe.errors:
            probe.errors.append(why)
        probe.host_index += 1
        probe.broken_sessions = 0
        if probe.host_index < len(probe.hosts):
            return True
        port = self.settings.probe_port
        why = f"could not talk to any MX on port {port}: " + "; ".join(probe.errors)
        self._finish(probe, Outcome(Verdict.UNKNOWN, why))
        return False

    async def _host_addresses(self, host: str) -> list[str]:
        """MX host addresses, looked up once per run."""
        if host not in self._addresses:
            self._addresses[host] = asyncio.ensure_future(mx.host_addresses(host, self.resolver))
        return await asyncio.shield(self._addresses[host])
