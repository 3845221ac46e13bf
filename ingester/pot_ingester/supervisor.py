"""Keeps one InboxReader task per inbox the pool has, re-reading the set from Postgres every
refresh_seconds (mailboxes added, removed, paused, or with a changed endpoint or login); run by
pot_ingester.cli and the bench."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from pot_common.mail_credentials import CredentialStore

from pot_ingester import metrics
from pot_ingester.config import IngesterSettings
from pot_ingester.inbox import Gates, InboxReader
from pot_ingester.store import PG_FAILURES, Inbox, Store

log = logging.getLogger("pot_ingester.supervisor")


class Supervisor:
    def __init__(self, settings: IngesterSettings, store: Store, credentials: CredentialStore) -> None:
        self.settings = settings
        self.store = store
        self.credentials = credentials
        self.gates = Gates(settings.max_logins, settings.max_connections)
        self.readers: dict[int, tuple[InboxReader, asyncio.Task[None]]] = {}
        self.pool_id: int | None = None

    async def start(self) -> None:
        """Find the pool's row (raises store.PoolNotFound until the operator projected it)."""
        self.pool_id = await self.store.pool_id(self.settings.pool_namespace, self.settings.pool_name)

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh until `stop` is set, then cancel every reader (their checkpoints are committed)."""
        assert self.pool_id is not None, "start() first"
        try:
            while not stop.is_set():
                try:
                    self.reconcile(await self.store.inboxes(self.pool_id))
                except PG_FAILURES as exc:
                    metrics.ERRORS.labels(self.settings.pool, "postgres").inc()
                    log.warning("Could not read the pool's mailboxes error=%s", type(exc).__name__)
                self._report()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.refresh_seconds)
        finally:
            await self.stop_all()

    def reconcile(self, inboxes: list[Inbox]) -> None:
        """Start readers for new inboxes, restart changed ones, stop those the pool no longer has."""
        wanted = {inbox.id: inbox for inbox in inboxes}
        for mailbox_id in list(self.readers):
            reader, task = self.readers[mailbox_id]
            inbox = wanted.get(mailbox_id)
            if inbox != reader.inbox or task.done():
                if task.done() and not task.cancelled() and task.exception() is not None:
                    metrics.ERRORS.labels(self.settings.pool, "crashed").inc()
                    log.error(
                        "Inbox reader crashed, restarting mailbox=%s error=%r",
                        reader.inbox.label,
                        task.exception(),
                    )
                task.cancel()
                del self.readers[mailbox_id]
                if inbox is None:
                    log.info("Stopped reading inbox mailbox=%s", reader.inbox.label)
        for mailbox_id, inbox in wanted.items():
            if mailbox_id not in self.readers:
                reader = InboxReader(inbox, self.store, self.credentials, self.settings, self.gates)
                task = asyncio.create_task(reader.run(), name=f"inbox-{inbox.label}")
                self.readers[mailbox_id] = (reader, task)
                log.info(
                    "Started reading inbox mailbox=%s host=%s port=%d tls=%s auth=%s",
                    inbox.label,
                    inbox.host,
                    inbox.port,
                    inbox.tls,
                    inbox.auth_mechanism,
                )

    def _report(self) -> None:
        modes = Counter(reader.stats.mode for reader, _ in self.readers.values())
        for mode in ("idle", "poll", "held-poll", "failing", "starting"):
            metrics.MAILBOXES.labels(self.settings.pool, mode).set(modes.get(mode, 0))

    async def stop_all(self, grace: float = 10.0) -> None:
        """Cancel every reader: a record in progress rolls back whole, so nothing is half-written. Each
        logs out politely; after `grace` seconds the rest are left for the process exit to close."""
        tasks = [task for _, task in self.readers.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            if pending:
                log.warning("Stopped without logging out readers=%d", len(pending))
        self.readers.clear()
