"""The plans of a pool's mailboxes for one scan, each made anew only when something that feeds it changed.

Called by the pool controller's plan step. Pure: the last scan's memo comes in with the observation
and the memo for the next scan goes out with the plans, for the apply step to keep. At 12,000
mailboxes, planning every mailbox on every scan is what kept an idle operator busy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pot_common.vault import DEFAULT_TENANT_PREFIX
from pot_deliverability.gate import Target

from pot_operator.conditions import get_condition, parse_rfc3339, set_condition
from pot_operator.credentials import CredentialCheck, rotated_since_rejection
from pot_operator.db import MailboxId, MailboxRow
from pot_operator.health import WindowCounts, reduced_cap_factor
from pot_operator.index import Body, Key, ParsedMailbox
from pot_operator.mailbox.inbox import InboxVerdict
from pot_operator.mailbox.plan import BLOCKLIST_REASON, MailboxMemory, MailboxPlan, Observed, plan_mailbox
from pot_operator.pool.policy import PoolPolicy
from pot_operator.statusdiff import status_patch

EMPTY_MEMORY = MailboxMemory()
NO_COUNTS = (WindowCounts(), 0)
# What a mailbox's plan is made from besides its body: pool policy, window counts, sent today,
# credential verdict, worker rejection, remembered state, today's date, blocklist listing, and the
# ingester's word on the inbox (its InboxReady condition changes with it alone).
PlanInputs = tuple[
    PoolPolicy,
    WindowCounts,
    int,
    CredentialCheck | None,
    bool,
    MailboxMemory,
    dt.date,
    str | None,
    InboxVerdict | None,
]


@dataclasses.dataclass(frozen=True)
class PlanMemo:
    """A mailbox's last plan, the inputs and the very body it was made from (its writes are done)."""

    inputs: PlanInputs
    body: Body
    plan: MailboxPlan


@dataclasses.dataclass(frozen=True)
class MailboxesSeen:
    """What a pool scan observed about its mailboxes; the mappings are read, never changed, by the plan."""

    selected: Sequence[tuple[Key, Body, ParsedMailbox]]
    # Per mailbox name: its row in Postgres (id, state); per row id: window counts and sent today.
    ids: Mapping[str, MailboxId]
    counts: Mapping[int, tuple[WindowCounts, int]]
    credentials: Mapping[Key, CredentialCheck]
    memories: Mapping[Key, MailboxMemory]
    # Why a sending target is on a blocklist, for the listed ones.
    listed: Mapping[Target, str]
    memos: Mapping[Key, PlanMemo]
    # Per mailbox: (pool id, row) last written to Postgres; unchanged rows are not sent again.
    upserted: Mapping[Key, tuple[int, MailboxRow]]
    # POT_VAULT_TENANT_PREFIX: Vault paths resolve under <prefix>/<namespace>/.
    vault_prefix: str = DEFAULT_TENANT_PREFIX


NOTHING_SEEN = MailboxesSeen((), {}, {}, {}, {}, {}, {}, {})


@dataclasses.dataclass(frozen=True)
class Planned:
    """One mailbox's plan this scan; `fresh` when planned anew (else the memo's plan, already written)."""

    key: Key
    body: Body
    parsed: ParsedMailbox
    plan: MailboxPlan
    fresh: bool
    memo: PlanMemo  # what the next scan compares with


def plan_mailboxes(seen: MailboxesSeen, pool: PoolPolicy, now: dt.datetime) -> list[Planned]:
    """Every selected mailbox's plan, reusing the memo's when inputs and body are unchanged and the clock
    alone cannot change it."""
    out = []
    today = now.date()
    for key, body, parsed in seen.selected:
        mid = seen.ids.get(key[1])
        window, sent_today = seen.counts.get(mid.id, NO_COUNTS) if mid else NO_COUNTS
        check = seen.credentials.get(key)
        rejected = mid is not None and still_rejected(mid, check, body)
        memory = seen.memories.get(key, EMPTY_MEMORY)
        listing = seen.listed.get(parsed.target)
        inbox = inbox_verdict_of(mid)
        inputs: PlanInputs = (pool, window, sent_today, check, rejected, memory, today, listing, inbox)
        memo = seen.memos.get(key)
        if memo is not None and memo.inputs == inputs and not time_sensitive(memory, pool, now):
            if memo.body is body:
                out.append(Planned(key, body, parsed, memo.plan, False, memo))
                continue
            if echo_of(memo, body):
                # The watch brought back what we wrote: the plan stands, nothing to send.
                out.append(Planned(key, body, parsed, memo.plan, False, dataclasses.replace(memo, body=body)))
                continue
        observed = Observed(
            namespace=key[0],
            name=key[1],
            generation=body.get("metadata", {}).get("generation"),
            spec=parsed.spec,
            created=creation_date(body, now),
            status=body.get("status") or {},
            counts=window,
            sent_today=sent_today,
            credentials=check,
            worker_rejected_credentials=rejected,
            memory=memory,
            blocklisted=listing,
            vault_prefix=seen.vault_prefix,
            inbox=inbox,
        )
        plan = plan_mailbox(observed, pool, now)
        # Planning again with the memory this plan leaves behind gives the same plan (same day,
        # nothing time-sensitive), so that memory is what the next scan's inputs are compared to.
        settled: PlanInputs = (pool, window, sent_today, check, rejected, plan.memory, today, listing, inbox)
        out.append(Planned(key, body, parsed, plan, True, PlanMemo(settled, body, plan)))
    return out


@dataclasses.dataclass(frozen=True)
class MailboxWrites:
    """What the apply step writes for a pool's mailboxes: only what changed."""

    patches: list[tuple[Key, dict[str, Any]]]  # status merge patches
    rows: list[MailboxRow]  # limits for the workers, new or changed
    memories: dict[Key, MailboxMemory]  # remembered state, changed
    events: list[tuple[Body, str, str, str]]  # (body, type, reason, message)
    gauges: list[tuple[Key, int, bool]]  # (mailbox, health score, blocklisted) of the fresh plans
    newly_listed: dict[Target, list[str]]  # mailboxes that started a cooldown for a listing, per target
    memos: dict[Key, PlanMemo]  # memos that changed, kept once the writes are done


def mailbox_writes(planned: list[Planned], seen: MailboxesSeen, pool_id: int | None) -> MailboxWrites:
    """The writes of this scan's plans. A reused plan was made from this very body with these inputs:
    its patch was sent, its events emitted and its memory saved when it was fresh."""
    writes = MailboxWrites([], [], {}, [], [], {}, {})
    for p in planned:
        key, plan = p.key, p.plan
        if p.fresh:
            patch = status_patch(p.body.get("status"), plan.status)
            if patch is not None:
                writes.patches.append((key, patch))
            if seen.memories.get(key) != plan.memory:
                writes.memories[key] = plan.memory
            for type_, reason, message in plan.events:
                writes.events.append((p.body, type_, reason, message))
                if reason == "CooldownStarted" and message.startswith(BLOCKLIST_REASON):
                    writes.newly_listed.setdefault(p.parsed.target, []).append(key[1])
            writes.gauges.append((key, plan.health_score, p.parsed.target in seen.listed))
        if key[1] not in seen.ids or seen.upserted.get(key) != (pool_id, plan.row):
            writes.rows.append(plan.row)
        if seen.memos.get(key) is not p.memo:
            writes.memos[key] = p.memo
    return writes


def echo_of(memo: PlanMemo, body: Body) -> bool:
    """Whether `body` differs from the planned one only by carrying the planned status (our own write
    coming back through the watch): planning it again would give the same plan, at 12,000x the cost."""
    old = memo.body
    return (
        body.get("spec") == old.get("spec")
        and body.get("metadata") == old.get("metadata")
        and status_patch(body.get("status"), memo.plan.status) is None
    )


def time_sensitive(memory: MailboxMemory, pool: PoolPolicy, now: dt.datetime) -> bool:
    """Whether the plan can change with the clock alone (within a day): a cooldown that ends at a
    time, or a reduced cap that lapses after the recovery period. Such mailboxes are planned anew."""
    return (
        memory.cooldown_until is not None
        or reduced_cap_factor(pool.thresholds, memory.resumed_at, now) is not None
    )


def inbox_verdict_of(row: MailboxId | None) -> InboxVerdict | None:
    """What the ingester last wrote on the mailbox's row about its inbox (None: nothing yet)."""
    if row is None or row.inbox_state is None:
        return None
    return InboxVerdict(row.inbox_state, row.inbox_error, row.inbox_since)


def still_rejected(row: MailboxId, check: CredentialCheck | None, body: Mapping[str, Any]) -> bool:
    """Whether the workers' 'credentials_bad' stands: until the operator's own check passes and either
    Vault holds another version of the secret than the refused one, or a person changed the spec."""
    if row.state != "credentials_bad":
        return False
    if check is None or not check.ok:
        return True
    return not (rotated_since_rejection(check, row.credentials_bad_version) or changed_since_rejection(body))


def changed_since_rejection(body: Mapping[str, Any]) -> bool:
    """Whether a person changed the Mailbox after the worker rejected its credentials.

    A new generation that the status has not observed yet: a person pointed the Mailbox at other
    credentials (or says the old ones are fixed), so the workers may try again.
    """
    status = body.get("status") or {}
    return bool(body.get("metadata", {}).get("generation") != status.get("observedGeneration"))


def creation_date(body: Mapping[str, Any], now: dt.datetime) -> dt.date:
    created = parse_rfc3339(body.get("metadata", {}).get("creationTimestamp"))
    return (created or now).date()


@dataclasses.dataclass(frozen=True)
class InvalidMailbox:
    """A selected Mailbox whose spec the operator refuses (e.g. a host the CRD pattern let through)."""

    key: Key
    body: Body
    error: str  # the validation error, without values


def invalid_mailbox_writes(
    pool: str, items: Sequence[InvalidMailbox], now: dt.datetime
) -> tuple[list[tuple[Key, dict[str, Any]]], list[tuple[Body, str, str, str]]]:
    """Each invalid Mailbox's own status (Failed, Ready=False InvalidSpec naming the error) and one
    Warning Event when that verdict is new; its pool's other mailboxes are planned as usual."""
    patches: list[tuple[Key, dict[str, Any]]] = []
    events: list[tuple[Body, str, str, str]] = []
    for item in items:
        current = item.body.get("status") or {}
        generation = item.body.get("metadata", {}).get("generation")
        message = f"Invalid spec, fix it to send from this mailbox: {item.error}"[:1000]
        was = get_condition(list(current.get("conditions") or []), "Ready")
        conditions = set_condition(
            list(current.get("conditions") or []),
            "Ready",
            False,
            "InvalidSpec",
            message,
            generation=generation,
            now=now,
        )
        status = {"observedGeneration": generation, "state": "Failed", "pool": pool, "conditions": conditions}
        patch = status_patch(current, status)
        if patch is not None:
            patches.append((item.key, patch))
        if was is None or was.get("reason") != "InvalidSpec" or was.get("message") != message:
            events.append((item.body, "Warning", "InvalidSpec", message))
    return patches, events
