"""The Campaign controller's pure plans: the projection to Postgres and the lifecycle (phase, counts).

Called by pot_operator.campaign.reconcile. A campaign scan plans twice because its counts are only
known after its jobs exist: `plan_projection` (conditions, the preflight gate, the campaign row,
whether to load recipients) before the writes, `plan_lifecycle` (phase, counts, completion) after.
No I/O here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from pot_common.api.campaign import CampaignSpec
from pot_common.api.pool import AlertRoutes
from pot_deliverability.preflight import PreflightReport

from pot_operator.campaign import waits as sched
from pot_operator.campaign.blocked import blocked_by
from pot_operator.campaign.preflight import preflight_gate
from pot_operator.campaign.recipients import ParsedRecipients
from pot_operator.campaign.template import CONDITION as TEMPLATE_VALID
from pot_operator.campaign.template import check_template
from pot_operator.conditions import Condition, get_condition, rfc3339, set_condition, with_ready
from pot_operator.db import CampaignRow
from pot_operator.index import Body, Key
from pot_operator.statusdiff import status_patch
from pot_operator.verification.plan import CONDITION as VERIFIED
from pot_operator.verification.plan import (
    VerificationObserved,
    VerificationStep,
    plan_verification,
    without_verified,
)


@dataclasses.dataclass(frozen=True)
class CampaignMemory:
    """What must survive a restart and has no status field (kept in Postgres by the operator)."""

    suppressed_at_load: int | None = None  # suppressed addresses left out when the jobs were made
    invalid_at_load: int = 0  # addresses spec.verification found invalid, left out then
    risky_at_load: int = 0  # risky or unknown ones left out then (`risky: skip`)

    def to_json(self) -> dict[str, Any]:
        return {
            "suppressedAtLoad": self.suppressed_at_load,
            "invalidAtLoad": self.invalid_at_load,
            "riskyAtLoad": self.risky_at_load,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CampaignMemory:
        value = data.get("suppressedAtLoad")
        return cls(
            int(value) if value is not None else None,
            int(data.get("invalidAtLoad") or 0),
            int(data.get("riskyAtLoad") or 0),
        )


@dataclasses.dataclass(frozen=True)
class CampaignObserved:
    """What one campaign scan read before writing; each step stops at the first thing missing."""

    key: Key
    body: Body
    spec: CampaignSpec | None = None
    spec_error: str = ""  # why the spec does not parse, when `spec` is None
    pool_found: bool = False  # its MailboxPool is in the index
    db_error: str | None = None  # set when Postgres is unreachable
    pool_id: int | None = None  # None until the pool controller projected the pool
    routes: AlertRoutes | None = None  # the pool's alert routes
    preflight: list[PreflightReport] | None = None  # the gate's reports, until the campaign started
    recipients: ParsedRecipients | None = None  # read when (re)loading, None for importName
    recipients_error: str | None = None
    recipients_error_reason: str = "RecipientSourceInvalid"
    memory: CampaignMemory = CampaignMemory()
    # UnsubscribeTokens (status, reason, message), for a campaign with an unsubscribe URL
    unsubscribe: tuple[bool, str, str] | None = None
    pool_pause: str | None = None  # why its pool is paused and how to resume it, when it is
    verification: VerificationObserved | None = None  # spec.verification's run, while loading is due


@dataclasses.dataclass(frozen=True)
class Projection:
    """The writes before the counts: the campaign row, whether to load recipients, the gate's results.

    With `status` set the scan writes it (after the row, when there is one) and stops there.
    """

    conditions: list[Condition]
    status: dict[str, Any] | None = None
    row: CampaignRow | None = None
    load: bool = False
    db_state: str = ""  # the Postgres state once the jobs exist
    preflight: dict[str, Any] | None = None
    preflight_blocks: bool = False
    preflight_failing: bool | None = None  # the metric, when the gate was evaluated
    alerts: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (key, text)
    events: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # (type, reason, message)
    postpone: bool = False  # move open jobs to their recipients' next opening (spec.schedule)
    verification: VerificationStep | None = None  # spec.verification's step, when it was planned


@dataclasses.dataclass(frozen=True)
class Loaded:
    """What the projection's writes returned."""

    campaign_id: int
    inserted: int | None  # jobs created by this scan's load, None without a load
    suppressed_at_load: int
    invalid_at_load: int = 0
    risky_at_load: int = 0


@dataclasses.dataclass(frozen=True)
class Lifecycle:
    status: dict[str, Any]
    status_patch: dict[str, Any] | None
    phase: str
    completed_now: bool  # mark it completed in Postgres, log and alert
    alerts: list[tuple[str, str]]


def decide_phase(
    *,
    paused: bool,
    total: int,
    open_jobs: int,
    previous: str | None,
    preflight_blocks: bool = False,
    before_start: bool = False,
    ended: bool = False,
) -> str:
    """The lifecycle phase from the job counts: Completed is final once reached (also at
    schedule.end, what is open left unsent); a failed preflight (without override) holds a campaign
    that has not started in `Preflight`; before schedule.start it is `Scheduled`."""
    if previous in ("Completed", "Failed"):
        return previous
    if (total > 0 and open_jobs == 0) or ended:
        return "Completed"
    if paused:
        return "Paused"
    if preflight_blocks:
        return "Preflight"
    if before_start:
        return "Scheduled"
    return "Running" if total > 0 else "Pending"


def has_started(status: Mapping[str, Any]) -> bool:
    """Past the preflight gate: later DNS trouble is the pool's business (cooldowns), not a restart."""
    return status.get("phase") in ("Running", "Completed", "Failed") or bool(status.get("startedAt"))


def needs_load(body: Mapping[str, Any]) -> bool:
    """Whether the recipients must be (re)loaded: not yet loaded for this generation, and not final."""
    status = body.get("status") or {}
    if status.get("phase") in ("Completed", "Failed"):
        return False
    loaded = get_condition(status.get("conditions") or [], "RecipientsReady")
    generation = body.get("metadata", {}).get("generation")
    return loaded is None or loaded.get("status") != "True" or loaded.get("observedGeneration") != generation


def plan_projection(o: CampaignObserved, now: dt.datetime) -> Projection:
    """The conditions up to the recipients, the preflight gate and the campaign's row."""
    namespace, name = o.key
    generation = o.body.get("metadata", {}).get("generation")
    current: Mapping[str, Any] = o.body.get("status") or {}
    conditions: list[Condition] = list(current.get("conditions") or [])

    def cond(type_: str, ok: bool, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = set_condition(conditions, type_, ok, reason, message, generation=generation, now=now)

    def ready(*required: str) -> list[Condition]:
        return with_ready(conditions, list(required), generation=generation, now=now)

    spec = o.spec
    if spec is None:
        cond("Ready", False, "InvalidSpec", o.spec_error[:1000])
        return Projection(conditions, {"phase": "Failed", "conditions": conditions})
    if spec.verification.mode == "off":  # a Verified left by an earlier generation would be stale
        conditions = without_verified(conditions)
    pool_name = spec.pool_ref.name
    if not o.pool_found:
        cond("PoolReady", False, "PoolNotFound", f"MailboxPool {pool_name} does not exist in {namespace}")
        return Projection(conditions, {"phase": "Pending", "conditions": ready("PoolReady")})
    if o.db_error is not None:
        cond("DatabaseReady", False, "DatabaseUnreachable", o.db_error)
        return Projection(conditions, {"conditions": ready("DatabaseReady")})
    if o.pool_id is None:
        cond("PoolReady", False, "PoolNotReconciled", f"MailboxPool {pool_name} has not been reconciled yet")
        return Projection(conditions, {"phase": "Pending", "conditions": ready("PoolReady")})
    cond("PoolReady", True, "PoolFound", f"Sending through MailboxPool {pool_name}")
    cond("DatabaseReady", True, "Connected", "Postgres reachable")
    if o.unsubscribe is not None:
        cond("UnsubscribeTokens", *o.unsubscribe)
    if not sched.known_zone(spec.schedule.time_zone):
        cond(
            "ScheduleValid",
            False,
            "UnknownTimeZone",
            f"schedule.timeZone {spec.schedule.time_zone!r} is unknown",
        )
        return Projection(conditions, {"phase": "Pending", "conditions": ready("PoolReady", "ScheduleValid")})

    gate = preflight_gate(o, spec, now)
    if gate.condition is not None:
        cond("PreflightPassed", *gate.condition)
    preflight_blocks = gate.blocks

    previous_phase = current.get("phase")
    held = spec.paused or spec.suspend
    db_state = "completed" if previous_phase == "Completed" else "paused" if held else "running"
    if preflight_blocks and db_state == "running":
        db_state = "pending"
    schedule = spec.schedule
    if db_state == "running" and sched.before_start(schedule, now):
        db_state = "pending"  # its jobs are not due either; held all the same until the start
    if sched.ended(schedule, now) and db_state in ("running", "pending", "paused"):
        db_state = "completed"  # what is not sent by the end is left unsent
    if previous_phase == "Failed":
        db_state = "failed"
    load = needs_load(o.body)
    status: dict[str, Any] | None = None
    verification = None
    if load and o.recipients_error is not None:
        cond("RecipientsReady", False, o.recipients_error_reason, o.recipients_error)
        status = {"phase": "Pending", "conditions": ready("PoolReady", "RecipientsReady")}
    elif load:  # held before any job exists when a placeholder has no value
        check = check_template(spec, o.recipients.columns if o.recipients is not None else None)
        cond(TEMPLATE_VALID, check.ok, check.reason, check.message)
        if not check.ok:
            status = {"phase": "Pending", "conditions": ready("PoolReady", TEMPLATE_VALID)}
        elif o.verification is not None:  # held before any job exists until the check is done
            verification = plan_verification(o.verification)
            cond(VERIFIED, *verification.condition)
            if not verification.done:
                status = {
                    "phase": previous_phase if has_started(current) else "Pending",
                    "conditions": ready("PoolReady", VERIFIED),
                    "verification": verification.status,
                }
    # A campaign that already sends goes on while a new generation's list is checked.
    held_for_load = load and not (verification is not None and has_started(current))
    row = campaign_row(namespace, name, spec, "pending" if held_for_load else db_state)
    return Projection(
        conditions,
        status,
        row,
        load and status is None,
        db_state,
        gate.status,
        preflight_blocks,
        gate.failing,
        gate.alerts,
        gate.events,
        postpone=sched.restricts_hours(schedule) or (sched.before_start(schedule, now)),
        verification=verification,
    )


def campaign_row(namespace: str, name: str, spec: CampaignSpec, state: str) -> CampaignRow:
    """The campaign as its workers read it from Postgres."""
    return CampaignRow(
        namespace=namespace,
        name=name,
        tenant=namespace,  # the tenant is the namespace: nothing in a spec can name another
        subject=spec.template.subject,
        text=spec.template.text or "",
        html=spec.template.html,
        daily_limit=spec.limits.per_day,
        hourly_limit=spec.limits.per_hour,
        unsubscribe_url=spec.unsubscribe.url if spec.unsubscribe else None,
        unsubscribe_mailto=spec.unsubscribe.mailto if spec.unsubscribe else None,
        state=state,
        template_variables=spec.template.variables,
        unsubscribe_one_click=spec.unsubscribe.one_click if spec.unsubscribe else True,
        suppression_lists=tuple(spec.suppression_lists),
        schedule=spec.schedule.model_dump_json(by_alias=True, exclude_none=True) if spec.schedule else None,
    )


def recipients_message(
    inserted: int, suppressed: int, rejected_lines: list[int], invalid: int = 0, risky: int = 0
) -> str:
    message = f"{inserted} send jobs created, {suppressed} suppressed addresses left out"
    if invalid or risky:
        message += f", {invalid} invalid and {risky} risky addresses skipped (spec.verification)"
    if rejected_lines:
        message += f"; rows rejected at lines {', '.join(map(str, rejected_lines[:20]))}"
    return message


def plan_lifecycle(
    o: CampaignObserved, p: Projection, loaded: Loaded, counts: Mapping[str, Any], now: dt.datetime
) -> Lifecycle:
    """Phase, counts, timestamps and conditions from the jobs in Postgres; completion is announced once."""
    assert o.spec is not None  # a projection with a row had a spec
    spec = o.spec
    namespace, name = o.key
    generation = o.body.get("metadata", {}).get("generation")
    current: Mapping[str, Any] = o.body.get("status") or {}
    previous_phase = current.get("phase")
    conditions = p.conditions
    if loaded.inserted is not None:
        rejected = o.recipients.rejected_lines if o.recipients is not None else []
        message = recipients_message(
            loaded.inserted, loaded.suppressed_at_load, rejected, loaded.invalid_at_load, loaded.risky_at_load
        )
        conditions = set_condition(
            conditions, "RecipientsReady", True, "Materialised", message, generation=generation, now=now
        )
    open_jobs = int(counts["queued"]) + int(counts["deferred"])
    schedule = spec.schedule
    phase = decide_phase(
        paused=spec.paused or spec.suspend,
        total=int(counts["total"]),
        open_jobs=open_jobs,
        previous=previous_phase,
        preflight_blocks=p.preflight_blocks,
        before_start=sched.before_start(schedule, now),
        ended=sched.ended(schedule, now) and int(counts["total"]) > 0,
    )
    completed_now = phase == "Completed" and previous_phase != "Completed"
    alerts = []
    if completed_now:
        alerts.append(
            (
                f"completed:{name}",
                f"POT: campaign {namespace}/{name} completed: {counts['sent']} sent, "
                f"{counts['bounced']} bounced, {counts['failed']} failed"
                + (f", {counts['unknown']} unknown" if counts["unknown"] else ""),
            )
        )
    blocked = blocked_by(o, phase, conditions, counts, open_jobs, now)
    conditions = with_ready(
        conditions, ["PoolReady", "RecipientsReady"], generation=generation, now=now, blocked=blocked
    )
    started = counts["first_sent_at"]
    completed_at = current.get("completedAt")
    if phase == "Completed" and not completed_at:
        completed_at = rfc3339(counts["last_final_at"] or now)
    suppressed = loaded.suppressed_at_load
    skipped = loaded.invalid_at_load + loaded.risky_at_load
    status = {
        "observedGeneration": generation,
        "phase": phase,
        "preflight": p.preflight,
        "counts": {
            "total": int(counts["total"]) + suppressed + skipped,
            "queued": int(counts["queued"]),
            "sent": int(counts["sent"]),
            "deferred": int(counts["deferred"]),
            "bounced": int(counts["bounced"]),
            "failed": int(counts["failed"]),
            "unknown": int(counts["unknown"]),
            "suppressed": suppressed + int(counts["suppressed"]),
            "unsubscribed": int(counts["unsubscribed"]),
            "replied": int(counts.get("replied") or 0),
            "bouncedLater": int(counts.get("bounced_later") or 0),
            "complained": int(counts.get("complained") or 0),
            "autoReplied": int(counts.get("auto_replied") or 0),
            "invalid": loaded.invalid_at_load,
            "riskySkipped": loaded.risky_at_load,
        },
        "startedAt": current.get("startedAt") or (rfc3339(started) if started else None),
        "completedAt": completed_at,
        "conditions": conditions,
    }
    if p.verification is not None:
        status["verification"] = p.verification.status
    elif spec.verification.mode == "off":
        status["verification"] = None  # removed: nothing checks this generation's list
    return Lifecycle(status, status_patch(current, status), phase, completed_now, alerts)


def early_patch(o: CampaignObserved, status: dict[str, Any]) -> dict[str, Any] | None:
    """The patch for a scan that stops before the counts."""
    generation = o.body.get("metadata", {}).get("generation")
    return status_patch(o.body.get("status") or {}, {"observedGeneration": generation, **status})
