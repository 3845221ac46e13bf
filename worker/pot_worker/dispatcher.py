"""Sends a batch's planned messages and turns each reply into the job's result; used by pot_worker.runner.

One reused SMTP connection per mailbox (mailboxes in parallel, each behind a lock), its credentials
from Vault; the reply rules themselves are pure, in pot_worker.classify.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta

from prometheus_client import Counter

from pot_worker import metrics
from pot_worker.catalog import Catalog, Mailbox
from pot_worker.classify import Outcome, classify, decide
from pot_worker.clock import Clock
from pot_worker.config import WorkerSettings
from pot_worker.credentials import Credentials, CredentialsError, CredentialStore
from pot_worker.limits import Reservation
from pot_worker.planner import Planned, later
from pot_worker.retry import RetryPolicy
from pot_worker.smtp import Attempt, MailboxConnection
from pot_worker.store import JobStore, Result, Stats

log = logging.getLogger("pot_worker")


class Dispatcher:
    """The SMTP side of one worker. `send_all` per batch; `close` at exit."""

    def __init__(
        self,
        settings: WorkerSettings,
        clock: Clock,
        catalog: Catalog,
        store: JobStore,
        credentials: CredentialStore,
        retry: RetryPolicy,
        stopping: asyncio.Event,
        stats: Stats,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.catalog = catalog
        self.store = store
        self.credentials = credentials
        self.retry = retry
        self._stopping = stopping
        self.stats = stats
        self._label = settings.pool
        self._tls = ssl.create_default_context(cafile=settings.smtp_ca_file)
        self._connections: dict[int, MailboxConnection] = {}
        self._mailbox_locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Labelled children looked up once: .labels() per message was measurable in the profile.
        self._latency = metrics.SMTP_LATENCY.labels(self._label)
        self._sends: dict[tuple[str, str], Counter] = {}

    async def close(self) -> None:
        for conn in self._connections.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.quit(), 2)
        self._connections.clear()

    def drop(self, mailbox_ids: Iterable[int]) -> None:
        """Close these mailboxes' connections (their endpoint moved); the next send reconnects."""
        for mailbox_id in mailbox_ids:
            conn = self._connections.pop(mailbox_id, None)
            if conn is not None:
                conn.close()

    async def send_all(self, planned: Sequence[Planned], unsent: list[Reservation]) -> list[Result]:
        """Send every message, mailboxes in parallel; reservations not used go onto `unsent`."""
        groups: dict[int, list[Planned]] = defaultdict(list)
        for p in planned:
            groups[p.mailbox.id].append(p)
        batches = await asyncio.gather(*(self._send_group(items, unsent) for items in groups.values()))
        return [r for batch in batches for r in batch]

    async def _send_group(self, items: list[Planned], unsent: list[Reservation]) -> list[Result]:
        """One mailbox's messages, one at a time on its connection. A message that does not go keeps its
        permit unsettled: the runner releases those for the whole batch."""
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
            except Exception:  # Vault unreachable: a temporary problem, not bad credentials
                metrics.WORKER_ERRORS.labels(self._label, "vault").inc()
                retry_at = self.clock.now() + timedelta(seconds=30)
                unsent.extend(p.reservation for p in items)
                return [later(p.job, retry_at) for p in items]
            for p in items:
                if creds_problem is not None or self.catalog.is_bad(mailbox.id):
                    if creds_problem is not None and not self.catalog.is_bad(mailbox.id):
                        await self.mark_mailbox_bad(mailbox, creds_problem)
                    unsent.append(p.reservation)
                    results.append(later(p.job, self.clock.now()))
                    continue
                if p.permit.circuit_open or self._stopping.is_set():
                    # Opened by an earlier reply in this same batch, or SIGTERM: nothing of this job
                    # went out, so it goes back unsent (attempt not counted, limits released) instead
                    # of waiting in `sending` for a lease to end and become `unknown`.
                    unsent.append(p.reservation)
                    now = self.clock.now()
                    results.append(later(p.job, p.permit.retry_at(now) if p.permit.circuit_open else now))
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
        decision = decide(outcome, attempt.phase, p.job.attempts + 1, self.retry, now)
        p.permit.record(failure=decision.breaker_failure, success=decision.breaker_success, now=now)
        if decision.release:
            unsent.append(p.reservation)
        if decision.mailbox_bad:
            self.credentials.forget(p.mailbox.credentials_ref or "")
            await self.mark_mailbox_bad(p.mailbox, f"AUTH refused: {attempt.code} {attempt.reply}"[:300])
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

    async def mark_mailbox_bad(self, mailbox: Mailbox, reason: str) -> None:
        """Stop using the mailbox in this worker and record `credentials_bad` with the reason."""
        self.catalog.mark_bad(mailbox.id)
        self.drop([mailbox.id])
        log.error("Marked mailbox credentials bad mailbox=%s", mailbox.name)
        await self.store.credentials_bad(mailbox.id, reason, self.clock.now())
