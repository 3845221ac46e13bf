"""The pool as the worker knows it, reloaded every POT_REFRESH_SECONDS; read by runner, planner, dispatcher.

The pool row, its mailboxes (with today's effective limits) and its running campaigns.

`refresh` returns what moved (`Changes`, computed by the pure `changes`) so the runner can forget
caps it remembered as full and close connections whose endpoint moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pot_common.mail_credentials import AuthRef
from pot_common.message import Template, template_from_row
from pot_common.window import in_window

from pot_worker.limits import MailboxLimits
from pot_worker.smtp import Endpoint
from pot_worker.store import JobStore


class PoolNotFound(Exception):
    """The pool row does not exist (yet): the operator has not projected it."""


@dataclass(frozen=True)
class Pool:
    id: int
    domain_hourly_limit: int | None
    window_start: Any
    window_end: Any
    time_zone: str
    window_days: tuple[int, ...]
    paused: bool


@dataclass(frozen=True)
class Mailbox:
    id: int
    name: str
    address: str
    display_name: str
    endpoint: Endpoint
    credentials_ref: str | None
    limits: MailboxLimits
    state: str
    cooldown_until: datetime | None
    signature: str = ""  # spec.signature, `sender_signature` in templates
    # How it signs in: 'password', or 'oauth2' with an access token from this provider's token endpoint.
    auth: AuthRef | None = None

    @property
    def login_ref(self) -> AuthRef:
        return self.auth or AuthRef(self.credentials_ref)


@dataclass(frozen=True)
class Campaign:
    id: int
    tenant: str
    template: Template
    daily_limit: int | None
    hourly_limit: int | None
    name: str = ""  # the Campaign's name, which its unsubscribe tokens carry


@dataclass(frozen=True)
class Changes:
    """What a refresh moved that the worker remembers elsewhere."""

    domain_cap_moved: bool = False
    campaign_caps_moved: tuple[int, ...] = ()  # campaign ids
    endpoints_moved: tuple[int, ...] = ()  # mailbox ids


def pool_from_row(row: Mapping[str, Any]) -> Pool:
    return Pool(
        row["id"],
        row["domain_hourly_limit"],
        row["window_start"],
        row["window_end"],
        row["time_zone"],
        tuple(row["window_days"]),
        row["paused"],
    )


def mailbox_from_row(r: Mapping[str, Any]) -> Mailbox:
    return Mailbox(
        r["id"],
        f"{r['namespace']}/{r['name']}",
        r["address"],
        r["display_name"],
        Endpoint(r["smtp_host"], r["smtp_port"], r["smtp_tls"]),
        r["credentials_ref"],
        MailboxLimits(r["id"], r["daily_cap"], r["hourly_cap"], r["min_spacing_seconds"]),
        r["state"],
        r["cooldown_until"],
        r.get("signature") or "",
        AuthRef.from_row(r),
    )


def campaign_from_row(r: Mapping[str, Any]) -> Campaign:
    return Campaign(
        r["id"],
        r["tenant"],
        template_from_row(r),
        r["daily_limit"],
        r["hourly_limit"],
        r.get("name") or str(r["id"]),
    )


def changes(
    old_pool: Pool | None,
    new_pool: Pool,
    old_mailboxes: Mapping[int, Mailbox],
    new_mailboxes: Mapping[int, Mailbox],
    old_campaigns: Mapping[int, Campaign],
    new_campaigns: Mapping[int, Campaign],
) -> Changes:
    """What moved between two loads (pure). Something that appears or disappears did not move."""
    return Changes(
        domain_cap_moved=old_pool is not None
        and old_pool.domain_hourly_limit != new_pool.domain_hourly_limit,
        campaign_caps_moved=tuple(
            cid
            for cid, new in new_campaigns.items()
            if (old := old_campaigns.get(cid)) is not None
            and (old.daily_limit, old.hourly_limit) != (new.daily_limit, new.hourly_limit)
        ),
        endpoints_moved=tuple(
            mid
            for mid, new in new_mailboxes.items()
            if (was := old_mailboxes.get(mid)) is not None and was.endpoint != new.endpoint
        ),
    )


class Catalog:
    """The last load of the pool, plus the mailboxes whose credentials this worker saw refused."""

    def __init__(self) -> None:
        self.pool: Pool | None = None
        self.mailboxes: dict[int, Mailbox] = {}
        self.campaigns: dict[int, Campaign] = {}
        self._bad_mailboxes: set[int] = set()

    async def refresh(self, store: JobStore) -> Changes:
        """Reload everything (three statements); raises PoolNotFound if the pool is not projected."""
        row = await store.pool_row()
        if row is None:
            raise PoolNotFound(store.settings.pool)
        pool = pool_from_row(row)
        mailboxes = {r["id"]: mailbox_from_row(r) for r in await store.mailbox_rows(pool.id)}
        campaigns = {r["id"]: campaign_from_row(r) for r in await store.campaign_rows(pool.id)}
        moved = changes(self.pool, pool, self.mailboxes, mailboxes, self.campaigns, campaigns)
        for mailbox in mailboxes.values():
            if mailbox.state == "credentials_bad":
                # Postgres says so now; it also says when it is fixed.
                self._bad_mailboxes.discard(mailbox.id)
        self.pool, self.mailboxes, self.campaigns = pool, mailboxes, campaigns
        return moved

    def mark_bad(self, mailbox_id: int) -> None:
        """This worker saw the mailbox's credentials refused; it stays out until Postgres says so."""
        self._bad_mailboxes.add(mailbox_id)

    def is_bad(self, mailbox_id: int) -> bool:
        return mailbox_id in self._bad_mailboxes

    def eligible_mailboxes(self, now: datetime) -> list[Mailbox]:
        return [
            m
            for m in self.mailboxes.values()
            if m.state == "active"
            and (m.cooldown_until is None or m.cooldown_until <= now)
            and m.id not in self._bad_mailboxes
            and m.limits.daily_cap > 0
            and m.limits.hourly_cap > 0
        ]

    def may_send(self, now: datetime) -> bool:
        """A pool that is loaded, not paused, in its window, with a running campaign and a usable mailbox."""
        pool = self.pool
        if pool is None or pool.paused or not self.campaigns:
            return False
        if not in_window(now, pool.window_start, pool.window_end, pool.time_zone, pool.window_days):
            return False
        return bool(self.eligible_mailboxes(now))
