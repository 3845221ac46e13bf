"""The operator's process state: clients, the index of watched objects, remembered state and caches.

Created once by the startup handler in pot_operator.main (`Runtime.create`) and passed to every
controller. Every field has a real type; nothing is cached at module level.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import asyncpg
from pot_alerts.routing import Alerter, AlertSettings
from pot_common.cache import TtlCache
from pot_common.vault import VaultConfig, VaultKV
from pot_deliverability.dns import DnsResolver
from pot_deliverability.dnsbl import Blocklists, parse_zones
from pot_deliverability.gate import DomainChecks

from pot_operator import db
from pot_operator.campaign.plan import CampaignMemory
from pot_operator.config import Settings
from pot_operator.credentials import CachedCheck, CredentialPolicy, VaultOutage
from pot_operator.db import MailboxRow
from pot_operator.index import Index, Key
from pot_operator.kube import KubeApi
from pot_operator.mailbox.plan import MailboxMemory
from pot_operator.pool.mailboxes import PlanMemo
from pot_operator.pool.policy import PauseState, Recommendation

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Runtime:
    settings: Settings
    kube: KubeApi
    vault: VaultKV
    # Preflight reports per sending domain (campaign gate, pool blocklist rechecks).
    checks: DomainChecks
    alerts: Alerter
    # The latest body of each watched object, fed by the event handlers; scans read only this.
    index: Index = dataclasses.field(default_factory=Index)
    db: asyncpg.Pool | None = None
    db_error: str | None = None
    # What the CRD status has no field for, loaded from Postgres on connect.
    mailbox_memory: dict[Key, MailboxMemory] = dataclasses.field(default_factory=dict)
    pool_memory: dict[Key, PauseState] = dataclasses.field(default_factory=dict)
    campaign_memory: dict[Key, CampaignMemory] = dataclasses.field(default_factory=dict)
    # Per mailbox: the last credential verdict; younger than POT_CREDENTIALS_RECHECK means "fresh".
    credentials: TtlCache[Key, CachedCheck] = dataclasses.field(init=False)
    # The cluster admin's rules for credentials, from the settings.
    credential_policy: CredentialPolicy = dataclasses.field(init=False)
    # Vault answering "not now": reads wait out a growing delay; shown on every pool meanwhile.
    vault_outage: VaultOutage = dataclasses.field(default_factory=VaultOutage)
    # Per pool: set when the pool must be scanned soon (its daemon waits on it).
    dirty: dict[Key, asyncio.Event] = dataclasses.field(default_factory=dict)
    # Per mailbox: the last plan and the inputs it was made from, reused while nothing changed.
    plan_memo: dict[Key, PlanMemo] = dataclasses.field(default_factory=dict)
    # Per pool: its worker replica recommendations within the scale-down stabilization window.
    recommendations: dict[Key, tuple[Recommendation, ...]] = dataclasses.field(default_factory=dict)
    # Per mailbox: (pool id, row) last written to Postgres; unchanged rows are not sent again.
    upserted: dict[Key, tuple[int, MailboxRow]] = dataclasses.field(default_factory=dict)
    _db_lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.credentials = TtlCache(self.settings.credentials_recheck)
        self.credential_policy = CredentialPolicy(
            tenant_prefix=self.settings.vault_tenant_prefix,
            allow_plaintext_auth=self.settings.allow_plaintext_auth,
            allow_secret_refs=self.settings.allow_secret_refs,
        )

    @classmethod
    def create(cls, settings: Settings, kube: KubeApi) -> Runtime:
        """The process's clients, built from the settings."""
        vault = VaultKV(
            VaultConfig(
                addr=settings.vault_addr,
                token=settings.vault_token,
                role=settings.vault_role,
                mount=settings.vault_mount,
                k8s_auth_path=settings.vault_k8s_auth_path,
            )
        )
        resolver = DnsResolver(settings.dns_resolver or None)
        # One Blocklists per process: each zone's RFC 5782 self-test runs once.
        blocklists = Blocklists(parse_zones(settings.dnsbl_zones), resolver)
        alerts = AlertSettings(
            telegram_api_url=settings.telegram_api_url,
            slack_webhook_url=settings.slack_webhook_url,
            dedup_seconds=settings.alert_dedup,
            vault_tenant_prefix=settings.vault_tenant_prefix,
        )
        return cls(
            settings=settings,
            kube=kube,
            vault=vault,
            checks=DomainChecks.for_resolver(resolver, blocklists, ttl=settings.preflight_cache),
            alerts=Alerter(alerts, vault),
        )

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
                mailboxes = await db.load_object_states(pool, "Mailbox")
                pools = await db.load_object_states(pool, "MailboxPool")
                campaigns = await db.load_object_states(pool, "Campaign")
            except (TimeoutError, OSError, asyncpg.PostgresError) as e:
                self.db_error = f"Postgres unreachable: {type(e).__name__}"
                log.warning("Connected to Postgres failed: %s", self.db_error)
                return None
            self.mailbox_memory = {k: MailboxMemory.from_json(v) for k, v in mailboxes.items()}
            self.pool_memory = {k: PauseState.from_json(v) for k, v in pools.items()}
            self.campaign_memory = {k: CampaignMemory.from_json(v) for k, v in campaigns.items()}
            self.db, self.db_error = pool, None
            return pool

    def mark_dirty(self, key: Key) -> None:
        self.dirty.setdefault(key, asyncio.Event()).set()

    def forget_mailbox(self, key: Key) -> None:
        """Drop everything kept about a deleted mailbox."""
        self.index.forget_mailbox(key)
        self.credentials.pop(key)
        self.plan_memo.pop(key, None)
        self.upserted.pop(key, None)

    async def close(self) -> None:
        try:
            # Let alerts already on their way (e.g. an auto-pause just before a rollout) arrive.
            await asyncio.wait_for(self.alerts.drain(), timeout=5)
        except TimeoutError:
            log.warning("Stopped with alerts still in flight")
        if self.db is not None:
            await self.db.close()
        self.kube.close()
