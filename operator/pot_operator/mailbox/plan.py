"""A pure plan of one mailbox's status, limits, remembered state and events from what was observed.

Called by the pool controller's plan step on every scan (for the mailboxes it selects) and by the
Mailbox event handler (pot_operator.watch) for mailboxes no pool selects. No I/O here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from pot_common.api.mailbox import MailboxSpec
from pot_common.providers import imap_endpoint
from pot_common.vault import DEFAULT_TENANT_PREFIX

from pot_operator.conditions import Condition, get_condition, rfc3339, set_condition, with_ready
from pot_operator.credentials import REFUSALS, CredentialCheck, credentials_ref
from pot_operator.db import MailboxRow
from pot_operator.health import (
    CooldownState,
    Health,
    WindowCounts,
    basis_points,
    decide_cooldown,
    health_score,
    reduced_cap_factor,
)
from pot_operator.mailbox.inbox import InboxVerdict, inbox_verdict
from pot_operator.pool.policy import PoolPolicy
from pot_operator.warmup import WarmupProgress, advance_warmup, effective_daily_cap

BLOCKLIST_REASON = "BlocklistListed"


@dataclasses.dataclass(frozen=True)
class MailboxMemory:
    """What must survive a restart and has no status field yet (kept in Postgres by the operator)."""

    held_days: int = 0
    evaluated_on: dt.date | None = None
    cooldown_until: dt.datetime | None = None
    cooldown_reason: str | None = None
    resumed_at: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "heldDays": self.held_days,
            "evaluatedOn": self.evaluated_on.isoformat() if self.evaluated_on else None,
            "cooldownUntil": self.cooldown_until.isoformat() if self.cooldown_until else None,
            "cooldownReason": self.cooldown_reason,
            "resumedAt": self.resumed_at.isoformat() if self.resumed_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MailboxMemory:
        def moment(key: str) -> dt.datetime | None:
            v = data.get(key)
            return dt.datetime.fromisoformat(v) if v else None

        day = data.get("evaluatedOn")
        return cls(
            held_days=int(data.get("heldDays") or 0),
            evaluated_on=dt.date.fromisoformat(day) if day else None,
            cooldown_until=moment("cooldownUntil"),
            cooldown_reason=data.get("cooldownReason"),
            resumed_at=moment("resumedAt"),
        )


@dataclasses.dataclass(frozen=True)
class Observed:
    """Everything observed about one mailbox for one scan."""

    namespace: str
    name: str
    generation: int | None
    spec: MailboxSpec
    created: dt.date
    status: Mapping[str, Any]
    counts: WindowCounts
    sent_today: int
    credentials: CredentialCheck | None
    worker_rejected_credentials: bool
    memory: MailboxMemory
    # Why its sending domain or SMTP host is on a blocklist (the pool's periodic recheck), if it is.
    blocklisted: str | None = None
    # POT_VAULT_TENANT_PREFIX: its Vault path is resolved under <prefix>/<namespace>/.
    vault_prefix: str = DEFAULT_TENANT_PREFIX
    # What the ingester last said of the inbox (None: nothing yet).
    inbox: InboxVerdict | None = None


@dataclasses.dataclass(frozen=True)
class MailboxPlan:
    status: dict[str, Any]
    row: MailboxRow
    memory: MailboxMemory
    events: list[tuple[str, str, str]]  # (type, reason, message)
    state: str
    cooling: bool
    health_score: int
    window_counts: WindowCounts


def plan_mailbox(o: Observed, pool: PoolPolicy, now: dt.datetime) -> MailboxPlan:
    """Status, projected limits, remembered state and events of one mailbox at `now`."""
    t = pool.thresholds
    memory = o.memory
    cooldown, events = _cooldown(o, pool, now)
    cooling = cooldown.until is not None
    held = o.spec.paused or pool.paused or cooling
    start = o.spec.warmup_start or o.created
    previous = WarmupProgress(0, memory.held_days, memory.evaluated_on) if memory.evaluated_on else None
    progress = advance_warmup(start, now.date(), previous, held=held)
    factor = reduced_cap_factor(t, cooldown.resumed_at, now)
    cap = effective_daily_cap(
        pool.curve, progress.day, pool.per_inbox_per_day, held=held, reduced_factor=factor
    )
    health = health_score(o.counts, t)
    creds = _credentials_verdict(o)
    events += _refusal_event(o, creds)
    # A temporary failure (Vault down) keeps the mailbox as it was; anything else fails it.
    failed = not creds[0] and not (o.credentials is not None and o.credentials.temporary)
    pause_reason = None
    if o.spec.paused:
        pause_reason = o.spec.pause_reason or "Paused by spec"
    elif pool.paused:
        pause_reason = f"MailboxPool {pool.name} is paused"
    state = _state(o, pool, failed=failed, cooling=cooling, day=progress.day)
    if o.worker_rejected_credentials:
        db_state, db_reason = "credentials_bad", "The SMTP server refused the credentials"
    elif failed:
        # 'credentials_bad' is the worker's verdict (AUTH refused); ours is a pause with the reason.
        db_state, db_reason = "paused", f"{creds[1]}: {creds[2]}"
    elif o.spec.paused or pool.paused:
        db_state, db_reason = "paused", pause_reason or ""
    elif cooling:
        db_state, db_reason = "cooling", cooldown.reason or ""
    else:
        db_state, db_reason = "active", ""
    status: dict[str, Any] = {
        "observedGeneration": o.generation,
        "state": state,
        "pool": pool.name,
        "warmupDay": progress.day,
        "capToday": cap,
        "sentToday": o.sent_today,
        "healthScore": health.score,
        "health": {
            "windowSeconds": t.window_seconds,
            "sent": o.counts.sent,
            "bounced": o.counts.bounced,
            "complained": o.counts.complained,
            "deferred": o.counts.deferred,
            **basis_points(health.rates),
        },
        "cooldownUntil": rfc3339(cooldown.until) if cooldown.until else None,
        "pauseReason": pause_reason,
        "conditions": _conditions(o, pool, cooldown, health, creds, progress.day, start, now, db_state),
    }
    return MailboxPlan(
        status=status,
        row=_row(o, pool, cap if db_state == "active" else 0, db_state, db_reason, cooldown),
        memory=MailboxMemory(
            held_days=progress.held_days,
            evaluated_on=progress.evaluated_on,
            cooldown_until=cooldown.until,
            cooldown_reason=cooldown.reason,
            resumed_at=cooldown.resumed_at,
        ),
        events=events,
        state=state,
        cooling=cooling,
        health_score=health.score,
        window_counts=o.counts,
    )


def _cooldown(
    o: Observed, pool: PoolPolicy, now: dt.datetime
) -> tuple[CooldownState, list[tuple[str, str, str]]]:
    """The mailbox's cooldown after this scan (its own rates, or a listing) and the Events it causes."""
    t = pool.thresholds
    events: list[tuple[str, str, str]] = []
    memory = o.memory
    cooldown = CooldownState(memory.cooldown_until, memory.cooldown_reason, memory.resumed_at)
    if o.spec.paused and cooldown.until is not None:
        # A person took over: their pause replaces the cooldown; unpausing resumes at the reduced cap.
        cooldown = CooldownState(None, None, now)
    if not pool.cooldowns_enabled or o.spec.paused:
        return cooldown, events
    if not pool.resume_after_cooldown and cooldown.until is not None:
        return cooldown, events  # stays cooling until a person resumes it
    decision = decide_cooldown(o.counts, t, cooldown, now)
    cooldown = decision.state
    if o.blocklisted and cooldown.until is None:
        # Listed: every message it sends now hurts the domain further, whatever its rates say.
        # A cooldown that just ended starts again, so no CooldownEnded in between.
        until = now + dt.timedelta(seconds=t.cooldown_seconds)
        cooldown = CooldownState(until, BLOCKLIST_REASON, cooldown.resumed_at)
        decision = dataclasses.replace(decision, state=cooldown, started=True, ended=False)
    if decision.started and cooldown.reason == BLOCKLIST_REASON:
        events.append(
            (
                "Warning",
                "CooldownStarted",
                f"{BLOCKLIST_REASON}: {o.blocklisted}; cooling down until {rfc3339(cooldown.until or now)}",
            )
        )
    elif decision.started:
        events.append(
            (
                "Warning",
                "CooldownStarted",
                f"{cooldown.reason}: cooling down until {rfc3339(cooldown.until or now)}",
            )
        )
    if decision.ended:
        events.append(("Normal", "CooldownEnded", f"Resumed at {t.resume_cap_factor:.0%} of its cap"))
    return cooldown, events


def _credentials_verdict(o: Observed) -> tuple[bool, str, str]:
    """CredentialsReady's (status, reason, message): what the operator's own check found wrong first
    (a missing secret is not a refused password), then the SMTP server's refusal, then the check."""
    check = o.credentials
    if check is not None and not check.ok and not check.temporary:
        return False, check.reason, check.message
    if o.worker_rejected_credentials:
        return (
            False,
            "AuthenticationRejected",
            (
                "The SMTP server or the OAuth2 token endpoint refused these credentials"
                if o.spec.credentials.oauth2
                else "The SMTP server refused these credentials"
            )
            + "; write a new version of the secret (or change the Mailbox's credentials) and the mailbox "
            "is tried again",
        )
    if check is None:
        return False, "Checking", "Credentials not checked yet"
    return check.ok, check.reason, check.message


def _refusal_event(o: Observed, creds: tuple[bool, str, str]) -> list[tuple[str, str, str]]:
    """A Warning Event when the cluster's rules newly refuse the mailbox's credentials (once per refusal)."""
    _, reason, message = creds
    if reason not in REFUSALS:
        return []
    was = get_condition(o.status.get("conditions") or [], "CredentialsReady")
    if was is not None and was.get("reason") == reason:
        return []
    return [("Warning", reason, message)]


def _conditions(
    o: Observed,
    pool: PoolPolicy,
    cooldown: CooldownState,
    health: Health,
    creds: tuple[bool, str, str],
    day: int,
    start: dt.date,
    now: dt.datetime,
    db_state: str,
) -> list[Condition]:
    generation = o.generation
    conditions = set_condition(
        list(o.status.get("conditions") or []),
        "PoolSelected",
        True,
        "Selected",
        f"Selected by MailboxPool {pool.name}",
        generation=generation,
        now=now,
    )
    conditions = set_condition(conditions, "CredentialsReady", *creds, generation=generation, now=now)
    if cooldown.until is not None:
        healthy = (False, cooldown.reason or "CoolingDown", f"Cooling down until {rfc3339(cooldown.until)}")
    else:
        sample = "WithinThresholds" if health.sample_sufficient else "SampleTooSmall"
        healthy = (True, sample, f"Health score {health.score}")
    conditions = set_condition(conditions, "Healthy", *healthy, generation=generation, now=now)
    conditions = _inbox_condition(o, conditions, now, db_state)
    blocked = None
    if o.spec.paused:
        blocked = ("Paused", o.spec.pause_reason or "Paused by spec")
    elif pool.paused:
        blocked = ("PoolPaused", f"MailboxPool {pool.name} is paused")
    elif cooldown.until is not None:
        blocked = ("CoolingDown", f"Cooling down until {rfc3339(cooldown.until)}")
    elif day == 0:
        blocked = ("WarmupNotStarted", f"Warmup starts on {start.isoformat()}")
    return with_ready(
        conditions, ["PoolSelected", "CredentialsReady"], generation=generation, now=now, blocked=blocked
    )


def _inbox_condition(
    o: Observed, conditions: list[Condition], now: dt.datetime, db_state: str
) -> list[Condition]:
    """InboxReady (only with spec.imap; without it the condition is absent, as the feature is)."""
    imap = o.spec.imap
    if imap is None:
        return [c for c in conditions if c.get("type") != "InboxReady"]
    inbox = imap_endpoint(imap.host, imap.port, imap.tls_mode, o.spec.smtp.host)
    verdict = inbox_verdict(
        f"{inbox.host}:{inbox.port} ({inbox.tls})" if inbox else None, o.spec.smtp.host, db_state, o.inbox
    )
    return set_condition(conditions, "InboxReady", *verdict, generation=o.generation, now=now)


def _state(o: Observed, pool: PoolPolicy, *, failed: bool, cooling: bool, day: int) -> str:
    if failed:
        return "Failed"
    if o.spec.paused:
        return "Paused"
    if cooling:
        return "Cooling"  # its own cooldown is the more specific news than its pool's pause
    if pool.paused:
        return "Paused"
    if day == 0:
        return "Pending"
    return "Warming" if day < pool.curve.days else "Active"


def _row(
    o: Observed, pool: PoolPolicy, cap: int, state: str, reason: str, cooldown: CooldownState
) -> MailboxRow:
    """The limits the workers read: `cap` is 0 unless the mailbox may send."""
    imap = o.spec.imap
    inbox = imap_endpoint(imap.host, imap.port, imap.tls_mode, o.spec.smtp.host) if imap else None
    oauth = o.spec.credentials.oauth2
    return MailboxRow(
        name=o.name,
        address=o.spec.address,
        display_name=o.spec.display_name or "",
        smtp_host=o.spec.smtp.host,
        smtp_port=o.spec.smtp.port,
        smtp_tls=o.spec.smtp.tls_mode,
        credentials_ref=credentials_ref(o.spec.credentials, o.namespace, o.vault_prefix),
        daily_cap=cap,
        hourly_cap=min(pool.per_inbox_per_hour, cap) if cap else 0,
        min_spacing_seconds=pool.min_spacing_seconds,
        state=state,
        state_reason=reason,
        cooldown_until=cooldown.until,
        signature=o.spec.signature or "",
        imap_host=inbox.host if inbox else None,
        imap_port=inbox.port if inbox else 993,
        imap_tls=inbox.tls if inbox else "implicit",
        auth_mechanism="oauth2" if oauth else "password",
        oauth_provider=oauth.provider if oauth else None,
        oauth_token_url=oauth.token_url if oauth else None,
    )


def plan_unselected(generation: int | None, status: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """Status of a mailbox no pool selects: it cannot send, and says how to fix that."""
    conditions = set_condition(
        list(status.get("conditions") or []),
        "PoolSelected",
        False,
        "NoPoolSelects",
        "No MailboxPool in this namespace selects this Mailbox's labels",
        generation=generation,
        now=now,
    )
    conditions = with_ready(conditions, ["PoolSelected"], generation=generation, now=now)
    return {
        "observedGeneration": generation,
        "state": "Pending",
        "pool": None,
        "capToday": 0,
        "conditions": conditions,
    }
