"""The MailboxPool controller's pure plan: from one observation, the pool's status, its mailboxes' writes,
the auto-pause, Events, alerts and the worker Deployment.

Called by pot_operator.pool.reconcile between observe (pool/observe.py) and apply (pool/apply.py).
No I/O here: every decision of a pool scan is unit-tested through `plan_pool`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pot_common.annotations import RESUME_ANNOTATION
from pot_common.api.pool import AlertRoutes, MailboxPoolSpec
from pot_deliverability.gate import Target

from pot_operator.conditions import Condition, parse_rfc3339, set_condition, with_ready
from pot_operator.config import Settings
from pot_operator.db import PoolRow
from pot_operator.health import WindowCounts, basis_points, health_score, rates
from pot_operator.index import Body, Key
from pot_operator.manifests import PoolRef
from pot_operator.pool.guards import DeploymentChange, guard_conditions, refusal_events, worker_deployment
from pot_operator.pool.ingester import IngesterPlan, plan_ingester
from pot_operator.pool.mailboxes import (
    NOTHING_SEEN,
    InvalidMailbox,
    MailboxesSeen,
    MailboxWrites,
    Planned,
    invalid_mailbox_writes,
    mailbox_writes,
)
from pot_operator.pool.mailboxes import plan_mailboxes as plan_each_mailbox
from pot_operator.pool.policy import (
    PauseDecision,
    PauseState,
    PoolPolicy,
    Recommendation,
    ResumePolicy,
    decide_auto_pause,
    desired_replicas,
    policy_from_spec,
    pool_row,
    stabilized_replicas,
)
from pot_operator.statusdiff import status_patch

STATES = ("Warming", "Active", "Cooling", "Paused", "Failed")
NOT_PAUSED = PauseState()


@dataclasses.dataclass(frozen=True)
class PoolObserved:
    """Everything one pool scan read: the pool's body, then (spec valid, Postgres reachable) the rest."""

    key: Key
    body: Body
    settings: Settings
    spec: MailboxPoolSpec | None = None
    spec_error: str = ""  # why the spec does not parse, when `spec` is None
    db_error: str | None = None  # set when Postgres is unreachable: nothing else was observed
    pool_id: int | None = None  # None before the pool's first projection to Postgres
    pause: PauseState = NOT_PAUSED  # the remembered automatic pause
    mailboxes: MailboxesSeen = NOTHING_SEEN
    invalid: Sequence[str] = ()  # selected mailboxes whose spec does not parse
    invalid_mailboxes: Sequence[InvalidMailbox] = ()  # those of them still in the index, with why
    backlog: int = 0  # claimed, sending and soon-due jobs of the pool's running campaigns
    # Replica recommendations of the last stabilization window: (when, replicas).
    recommendations: tuple[Recommendation, ...] = ()
    deployment: Mapping[str, Any] | None = None  # the worker Deployment as it is, None if absent
    vault_outage: str | None = None  # why Vault reads are held back now, when they are


@dataclasses.dataclass(frozen=True)
class Gauges:
    """The pool's metrics after this scan."""

    sent_window: int
    bounce_rate: float
    complaint_rate: float
    paused: bool
    capacity_today: int
    sent_today: int


@dataclasses.dataclass(frozen=True)
class PoolWrites:
    """Everything a scan writes besides the pool's status (absent when the spec is invalid or Postgres is
    unreachable)."""

    row: PoolRow
    mailboxes: list[Planned]
    mailbox_writes: MailboxWrites
    pause: PauseDecision
    pause_memory: PauseState | None  # to remember, when it changed
    events: list[tuple[str, str, str]]  # the pool's own Events: (type, reason, message)
    alerts: list[tuple[str, str]]  # (key, text) to the pool's routes
    routes: AlertRoutes | None
    deployment: DeploymentChange
    gauges: Gauges
    ingester: IngesterPlan | None = None  # the pool's inbox reader
    recommendations: tuple[Recommendation, ...] = ()  # to remember for the next scan


@dataclasses.dataclass(frozen=True)
class PoolPlan:
    key: Key
    body: Body
    status: dict[str, Any]  # the status the pool should have
    status_patch: dict[str, Any] | None  # what differs from the status it has
    writes: PoolWrites | None = None


def plan_pool(o: PoolObserved, now: dt.datetime) -> PoolPlan:
    """The whole scan's decisions. A reconcile is observe → this → apply; the steps are named here."""
    generation = o.body.get("metadata", {}).get("generation")
    conditions: list[Condition] = list((o.body.get("status") or {}).get("conditions") or [])
    if o.spec is None:
        # Permanent: the spec must change before anything else can happen.
        conditions = set_condition(
            conditions, "Ready", False, "InvalidSpec", o.spec_error[:1000], generation=generation, now=now
        )
        return _status_only(o, {"observedGeneration": generation, "conditions": conditions})
    if o.db_error is not None:
        conditions = set_condition(
            conditions,
            "DatabaseReady",
            False,
            "DatabaseUnreachable",
            o.db_error,
            generation=generation,
            now=now,
        )
        conditions = with_ready(conditions, ["DatabaseReady"], generation=generation, now=now)
        return _status_only(o, {"observedGeneration": generation, "conditions": conditions})
    conditions = set_condition(
        conditions, "DatabaseReady", True, "Connected", "Postgres reachable", generation=generation, now=now
    )
    spec, name = o.spec, o.key[1]
    # spec.paused takes over an automatic pause.
    previous = PauseState() if spec.paused and o.pause.paused_at is not None else o.pause
    base = policy_from_spec(name, spec, paused=spec.paused or previous.paused_at is not None)
    planned = plan_each_mailbox(o.mailboxes, base, now)
    decision = decide_pause(o, spec, planned, base, previous, now)
    paused = spec.paused or decision.paused
    policy = base
    if paused != base.paused:
        # Every plan changes with the pool's pause: plan them all anew.
        policy = policy_from_spec(name, spec, paused=paused)
        planned = plan_each_mailbox(dataclasses.replace(o.mailboxes, memos={}), policy, now)
    writes = mailbox_writes(planned, o.mailboxes, o.pool_id)
    patches, invalid_events = invalid_mailbox_writes(name, o.invalid_mailboxes, now)
    writes.patches.extend(patches)
    writes.events.extend(invalid_events)
    replicas, capacity, recommendations = _replicas(o, spec, planned, paused, now)
    deployment = worker_deployment(o, spec, replicas)
    checks = guard_conditions(o, spec, deployment)
    for type_, verdict in checks.items():
        conditions = set_condition(conditions, type_, *verdict, generation=generation, now=now)
    status, gauges = _pool_status(o, spec, planned, decision, policy, replicas, capacity, conditions, now)
    events, alerts = _announcements(o, decision, writes.newly_listed)
    events += refusal_events(o.body.get("status") or {}, checks)
    return PoolPlan(
        o.key,
        o.body,
        status,
        status_patch(o.body.get("status") or {}, status),
        PoolWrites(
            row=pool_row(o.key[0], name, spec, paused),
            mailboxes=planned,
            mailbox_writes=writes,
            pause=decision,
            pause_memory=decision.state if decision.state != o.pause else None,
            events=events,
            alerts=alerts,
            routes=spec.alerts,
            deployment=deployment,
            gauges=gauges,
            recommendations=recommendations,
            ingester=plan_ingester(_owner(o), spec, planned, o.settings),
        ),
    )


def _owner(o: PoolObserved) -> PoolRef:
    return PoolRef(namespace=o.key[0], name=o.key[1], uid=o.body.get("metadata", {}).get("uid") or "")


def _status_only(o: PoolObserved, status: dict[str, Any]) -> PoolPlan:
    return PoolPlan(o.key, o.body, status, status_patch(o.body.get("status") or {}, status))


def decide_pause(
    o: PoolObserved,
    spec: MailboxPoolSpec,
    planned: list[Planned],
    policy: PoolPolicy,
    previous: PauseState,
    now: dt.datetime,
) -> PauseDecision:
    """The pool's automatic pause: on aggregate rates or too many cooling mailboxes; resumed after the
    cooldown (`afterCooldown`) or by the resume annotation (potctl resume) acknowledging it."""
    aggregate = sum((p.plan.window_counts for p in planned), WindowCounts())
    acknowledged_at = parse_rfc3339(
        (o.body.get("metadata", {}).get("annotations") or {}).get(RESUME_ANNOTATION)
    )
    decision = decide_auto_pause(
        aggregate,
        policy.thresholds,
        mailboxes_total=len(planned),
        mailboxes_cooling=sum(1 for p in planned if p.plan.cooling),
        previous=previous,
        now=now,
        policy=ResumePolicy.AFTER_DELAY if spec.auto_pause.resume == "afterCooldown" else ResumePolicy.MANUAL,
        resume_after_seconds=spec.health.cooldown_seconds,
        acknowledged_at=acknowledged_at,
    )
    if not spec.auto_pause.enabled:
        return PauseDecision(PauseState(), started=False, resumed=previous.paused_at is not None)
    return decision


def _replicas(
    o: PoolObserved, spec: MailboxPoolSpec, planned: list[Planned], paused: bool, now: dt.datetime
) -> tuple[int, int, tuple[Recommendation, ...]]:
    """Workers follow the sendable backlog, stabilized: (replicas, capacity left today, recommendations)."""
    capacity = sum(
        max(0, p.plan.row.daily_cap - p.plan.status["sentToday"])
        for p in planned
        if p.plan.row.state == "active"
    )
    replicas = desired_replicas(
        due_jobs=o.backlog,
        capacity_remaining=capacity,
        sends_per_worker=spec.workers.sends_per_worker_per_hour,
        min_replicas=spec.workers.min_replicas,
        max_replicas=spec.workers.max_replicas,
        paused=paused,
    )
    current = (o.deployment or {}).get("spec", {}).get("replicas") if o.deployment is not None else None
    replicas, recommendations = stabilized_replicas(
        replicas,
        current=current if isinstance(current, int) else None,
        history=o.recommendations,
        now=now,
        window_seconds=o.settings.scale_down_stabilization,
        max_replicas=spec.workers.max_replicas,
        paused=paused,
    )
    return replicas, capacity, recommendations


def _announcements(
    o: PoolObserved, decision: PauseDecision, newly_listed: dict[Target, list[str]]
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """The pool's Events and the alerts to its routes: blocklist hits, an automatic pause, a resume."""
    namespace, name = o.key
    events: list[tuple[str, str, str]] = []
    alerts: list[tuple[str, str]] = []
    for target, names in sorted(newly_listed.items()):
        listing = o.mailboxes.listed.get(target)
        alerts.append(
            (
                f"blocklist:{target.domain}",
                f"POT: {target.domain} (SMTP host {target.smtp_host}) is on a blocklist: {listing}. "
                f"Cooled down {len(names)} mailbox(es) of pool {namespace}/{name}: "
                + ", ".join(sorted(names)[:10]),
            )
        )
    if decision.started:
        message = f"Paused automatically: {decision.state.reason} ({decision.state.message}); " + resume_hint(
            namespace, name, o.spec
        )
        events.append(("Warning", "AutoPaused", message))
        alerts.append(
            (
                incident_key("AutoPaused", decision.state),
                f"POT: pool {namespace}/{name} {message[0].lower()}{message[1:]}",
            )
        )
    if decision.resumed:
        events.append(("Normal", "Resumed", "Resumed after an automatic pause"))
        alerts.append(
            (
                incident_key("Resumed", o.pause),
                f"POT: pool {namespace}/{name} resumed after an automatic pause",
            )
        )
    return events, alerts


def incident_key(kind: str, pause: PauseState) -> str:
    """The alert's dedup key: one per pause incident, so a new pause after a resume is alerted again
    however soon it comes (the dedup window only swallows repeats of the same incident)."""
    at = pause.paused_at.isoformat() if pause.paused_at is not None else "-"
    return f"{kind}:{at}"


def resume_hint(namespace: str, name: str, spec: MailboxPoolSpec | None) -> str:
    """The next step after an automatic pause, for Events, conditions and alerts."""
    command = f"potctl resume pool {name} -n {namespace}"
    if spec is not None and spec.auto_pause.resume == "afterCooldown":
        return f"resumes by itself after {spec.health.cooldown_seconds}s, or now with `{command}`"
    return f"resume with `{command}` once the cause is fixed"


def _pool_status(
    o: PoolObserved,
    spec: MailboxPoolSpec,
    planned: list[Planned],
    decision: PauseDecision,
    policy: PoolPolicy,
    replicas: int,
    capacity: int,
    conditions: list[Condition],
    now: dt.datetime,
) -> tuple[dict[str, Any], Gauges]:
    """The pool's status and metrics: mailbox counts by state, capacity, health, pause, conditions."""
    paused = policy.paused
    generation = o.body.get("metadata", {}).get("generation")
    plans = [p.plan for p in planned]
    aggregate = sum((p.window_counts for p in plans), WindowCounts())
    r = rates(aggregate)
    scores = [p.health_score for p in plans]
    sent_today = sum(p.status["sentToday"] for p in plans)
    if decision.paused:
        pause_reason: str | None = (
            f"{decision.state.reason}: {decision.state.message}; {resume_hint(o.key[0], o.key[1], spec)}"
        )
    elif spec.paused:
        pause_reason = spec.pause_reason or "Paused by spec"
    else:
        pause_reason = None
    conditions = set_condition(
        conditions,
        "AutoPaused",
        decision.paused,
        decision.state.reason or "WithinThresholds",
        decision.state.message or "Aggregate rates within the pool's thresholds",
        generation=generation,
        now=now,
    )
    if o.invalid:
        valid = (False, "InvalidMailboxSpec", f"Invalid spec: {', '.join(sorted(o.invalid)[:10])}")
    else:
        valid = (True, "AllValid", "Every selected Mailbox parsed")
    conditions = set_condition(conditions, "MailboxesValid", *valid, generation=generation, now=now)
    blocked = None
    if decision.paused:
        blocked = ("AutoPaused", pause_reason or "")
    elif spec.paused:
        blocked = ("Paused", pause_reason or "")
    elif not plans:
        blocked = ("NoMailboxes", "The selector matches no Mailbox")
    conditions = with_ready(
        conditions, ["DatabaseReady", "WorkersReady"], generation=generation, now=now, blocked=blocked
    )
    by_state = {s: sum(1 for p in plans if p.state == s) for s in STATES}
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "mailboxes": {"total": len(plans), **{s.lower(): by_state[s] for s in STATES}},
        "capacityToday": capacity,
        "sentToday": sent_today,
        "workerReplicas": replicas,
        "health": {
            "windowSeconds": spec.health.window_seconds,
            "sent": aggregate.sent,
            **basis_points(r),
            "score": round(sum(scores) / len(scores))
            if scores
            else health_score(aggregate, policy.thresholds).score,
        },
        "paused": paused,
        "pauseReason": pause_reason[:1024] if pause_reason else None,
        "conditions": conditions,
    }
    gauges = Gauges(aggregate.sent, r.bounce, r.complaint, paused, capacity, sent_today)
    return status, gauges
