"""The operator's process state: clients, the in-memory view of watched objects and remembered state.

Created once by the startup handler in pot_operator.main and passed to every controller.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import asyncpg

from pot_operator import db
from pot_alerts.routing import Alerter
from pot_operator.config import Settings
from pot_operator.credentials import CredentialCheck, VaultClient
from pot_deliverability.dns import DnsResolver
from pot_deliverability.dnsbl import Blocklists, parse_zones
from pot_deliverability.gate import DomainChecks
from pot_operator.kube import KubeApi
from pot_operator.mailbox import MailboxMemory

log = logging.getLogger(__name__)
Key = tuple[str, str]


@dataclasses.dataclass
class CachedCheck:
    fingerprint: str
    check: CredentialCheck
    checked_at: float


@dataclasses.dataclass
class Runtime:
    settings: Settings
    kube: KubeApi
    vault: VaultClient
    db: asyncpg.Pool | None = None
    db_error: str | None = None
    # The latest body of each watched object, fed by the event handlers; scans read only this.
    mailboxes: dict[Key, dict[str, Any]] = dataclasses.field(default_factory=dict)
    pools: dict[Key, dict[str, Any]] = dataclasses.field(default_factory=dict)
    mailbox_memory: dict[Key, MailboxMemory] = dataclasses.field(default_factory=dict)
    pool_memory: dict[Key, dict[str, Any]] = dataclasses.field(default_factory=dict)
    campaign_memory: dict[Key, dict[str, Any]] = dataclasses.field(default_factory=dict)
    credentials: dict[Key, CachedCheck] = dataclasses.field(default_factory=dict)
    dirty: dict[Key, asyncio.Event] = dataclasses.field(default_factory=dict)
    # Bumped by the event handlers when a mailbox's spec/labels or a pool changes: a pool scan
    # re-selects its mailboxes only then (selection is O(mailboxes x pools)).
    mailbox_version: int = 0
    pool_version: int = 0
    # Per pool: the selection made at (mailbox_version, pool_version) — see pool.select_mailboxes.
    selections: dict[Key, Any] = dataclasses.field(default_factory=dict)
    # Per mailbox: the last plan and the inputs it was made from, reused while nothing changed.
    plan_memo: dict[Key, Any] = dataclasses.field(default_factory=dict)
    # Per mailbox: (pool id, row) last written to Postgres; unchanged rows are not sent again.
    upserted: dict[Key, Any] = dataclasses.field(default_factory=dict)
    # Preflight reports per sending domain (campaign gate, pool blocklist rechecks) and alerts;
    # built from the settings unless a test passes its own.
    domain_checks: DomainChecks | None = None
    alerter: Alerter | None = None
    _db_lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        if self.domain_checks is None:
            resolver = DnsResolver(self.settings.dns_resolver or None)
            # One Blocklists per process: each zone's RFC 5782 self-test runs once.
            blocklists = Blocklists(parse_zones(self.settings.dnsbl_zones), resolver)
            self.domain_checks = DomainChecks.for_resolver(
                resolver, blocklists, ttl=self.settings.preflight_cache
            )
        if self.alerter is None:
            self.alerter = Alerter(self.settings, self.vault)

    @property
    def checks(self) -> DomainChecks:
        assert self.domain_checks is not None  # set in __post_init__
        return self.domain_checks

    @property
    def alerts(self) -> Alerter:
        assert self.alerter is not None  # set in __post_init__
        return self.alerter

    async def database(self) -> asyncpg.Pool | None:
        """The Postgres pool, connecting (and loading remembered state) on first success.

        An unreachable database is reported in conditions by the caller and retried on the next scan.
        """
        async with self._db_lock:
            if self.db is not None:
                return self.db
            if not self.settings.database_url:
                self.db_error = "POT_DATABASE_URL is not set on the operator"
                return None
            try:
                pool = await db.connect(self.settings.database_url)
                memories = await db.load_object_states(pool, "Mailbox")
                self.mailbox_memory = {k: MailboxMemory.from_json(v) for k, v in memories.items()}
                self.pool_memory = await db.load_object_states(pool, "MailboxPool")
                self.campaign_memory = await db.load_object_states(pool, "Campaign")
            except (TimeoutError, OSError, asyncpg.PostgresError) as e:
                self.db_error = f"Postgres unreachable: {type(e).__name__}"
                log.warning("Connected to Postgres failed: %s", self.db_error)
                return None
            self.db, self.db_error = pool, None
            return pool

    def mark_dirty(self, key: Key) -> None:
        self.dirty.setdefault(key, asyncio.Event()).set()

    async def close(self) -> None:
        try:
            # Let alerts already on their way (e.g. an auto-pause just before a rollout) arrive.
            await asyncio.wait_for(self.alerts.drain(), timeout=5)
        except TimeoutError:
            log.warning("Stopped with alerts still in flight")
        if self.db is not None:
            await self.db.close()
        self.kube.close()
