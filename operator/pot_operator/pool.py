"""The MailboxPool controller: one scan reconciles a pool, its mailboxes, limits in Postgres and workers.

Called by the pool daemon in pot_operator.main, after a mailbox or pool changed or every
POT_RECONCILE_INTERVAL seconds. Decisions are pure (pool_policy, mailbox.plan_mailbox); this module
observes, asks them, and writes only what changed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import kopf
import pydantic
from pot_common.annotations import RESUME_ANNOTATION
from pot_common.api.mailbox import MailboxSpec
from pot_common.api.pool import LabelSelector, MailboxPoolSpec

from pot_operator import db, metrics
from pot_operator.conditions import set_condition, with_ready
from pot_operator.credentials import check_credentials
from pot_deliverability.gate import Target, blocklisted, target_of
from pot_operator.health import WindowCounts, health_score, rates, reduced_cap_factor
from pot_operator.mailbox import (
    BLOCKLIST_REASON,
    MailboxMemory,
    MailboxPlan,
    Observed,
    plan_mailbox,
    window_since,
)
from pot_operator.manifests import PoolRef, WorkerSettings, build_worker_deployment, deployment_drift
from pot_operator.policy import PoolPolicy, policy_from_spec
from pot_operator.pool_policy import PauseState, ResumePolicy, decide_auto_pause, desired_replicas
from pot_operator.runtime import CachedCheck, Key, Runtime
from pot_operator.statusdiff import status_patch

log = logging.getLogger(__name__)
PATCH_CONCURRENCY = 16
CHECK_CONCURRENCY = 8
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_EMPTY_MEMORY = MailboxMemory()
_NO_COUNTS = (WindowCounts(), 0)


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics: every matchLabels pair and every expression must hold."""
    if not selector.match_labels and not selector.match_expressions:
        return False  # the CRD forbids it; never select a whole namespace by accident
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for req in selector.match_expressions:
        present = req.key in labels
        value = labels.get(req.key)
        values = req.values or []
        ok = {
            "In": present and value in values,
            "NotIn": not present or value not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[req.operator]
        if not ok:
            return False
    return True


_SELECTORS: dict[Key, tuple[Any, LabelSelector | None]] = {}


def _pool_selector(key: Key, body: Mapping[str, Any]) -> LabelSelector | None:
    """The pool's parsed selector, parsed again only when it changed (it is asked per mailbox event)."""
    raw = body.get("spec", {}).get("selector") or {}
    cached = _SELECTORS.get(key)
    if cached is not None and cached[0] == raw:
        return cached[1]
    try:
        parsed: LabelSelector | None = LabelSelector.model_validate(raw)
    except pydantic.ValidationError:
        parsed = None
    _SELECTORS[key] = (raw, parsed)
    return parsed


def pools_selecting(rt: Runtime, namespace: str, labels: Mapping[str, str]) -> list[str]:
    """Names of the pools in `namespace` whose selector matches, sorted: the first one owns the mailbox."""
    names = []
    for (ns, name), body in rt.pools.items():
        if ns != namespace:
            continue
        selector = _pool_selector((ns, name), body)
        if selector is not None and selector_matches(selector, labels):
            names.append(name)
    return sorted(names)


def _parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _creation_date(body: Mapping[str, Any], now: dt.datetime) -> dt.date:
    created = _parse_time(body.get("metadata", {}).get("creationTimestamp"))
    return (created or now).date()


@dataclasses.dataclass(frozen=True)
class ParsedMailbox:
    spec: MailboxSpec
    credentials_fingerprint: str
    target: Target  # its sending domain and SMTP host, for DNS and blocklist checks


_SPEC_CACHE: dict[Key, tuple[Any, ParsedMailbox]] = {}


def _parsed_spec(key: Key, body: Mapping[str, Any]) -> ParsedMailbox:
    """The parsed spec, re-validated only when the spec changed: parsing 12,000 specs per scan costs
    more CPU than everything else in an idle scan."""
    spec = body.get("spec") or {}
    cached = _SPEC_CACHE.get(key)
    if cached is not None and cached[0] == spec:
        return cached[1]
    parsed = MailboxSpec.model_validate(spec)
    result = ParsedMailbox(parsed, _fingerprint(parsed), target_of(parsed))
    _SPEC_CACHE[key] = (spec, result)
    return result


def forget_mailbox(rt: Runtime, key: Key) -> None:
    """Drop what the pool controller caches about a deleted mailbox."""
    _SPEC_CACHE.pop(key, None)
    rt.plan_memo.pop(key, None)
    rt.upserted.pop(key, None)


def _fingerprint(spec: MailboxSpec) -> str:
    return hashlib.sha256(spec.credentials.model_dump_json().encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Selection:
    """A pool's mailboxes as of (mailbox_version, pool_version): keys with parsed specs, invalid names."""

    versions: tuple[int, int, Any]
    mailboxes: list[tuple[Key, ParsedMailbox]]
    invalid: list[str]


def select_mailboxes(rt: Runtime, key: Key, selector: LabelSelector) -> Selection:
    """The mailboxes this pool owns (the first pool by name wins when several select one).

    Recomputed only when a mailbox's labels/spec or a pool changed: walking every mailbox and every
    pool on each scan of each pool is what made an idle operator busy at 12,000 mailboxes.
    """
    namespace, name = key
    versions = (rt.mailbox_version, rt.pool_version, selector)
    cached: Selection | None = rt.selections.get(key)
    if cached is not None and cached.versions == versions:
        return cached
    owners_by_labels: dict[tuple[tuple[str, str], ...], list[str]] = {}
    chosen: list[tuple[Key, ParsedMailbox]] = []
    invalid: list[str] = []
    for mkey, mbody in rt.mailboxes.items():
        if mkey[0] != namespace:
            continue
        labels = mbody.get("metadata", {}).get("labels") or {}
        if not selector_matches(selector, labels):
            continue
        label_key = tuple(sorted(labels.items()))
        owners = owners_by_labels.get(label_key)
        if owners is None:
            owners = owners_by_labels[label_key] = pools_selecting(rt, namespace, labels)
        if owners and owners[0] != name:
            continue
        try:
            chosen.append((mkey, _parsed_spec(mkey, mbody)))
        except pydantic.ValidationError:
            invalid.append(mkey[1])
    selection = Selection(versions, chosen, invalid)
    rt.selections[key] = selection
    return selection


async def _refresh_credentials(rt: Runtime, items: list[tuple[Key, ParsedMailbox]]) -> None:
    """Re-check credentials that are new, changed, failing (sooner) or older than the recheck period."""
    now = time.monotonic()
    due: list[tuple[Key, MailboxSpec, str]] = []
    for key, parsed in items:
        spec, fp = parsed.spec, parsed.credentials_fingerprint
        cached = rt.credentials.get(key)
        if cached is not None and cached.fingerprint == fp:
            age = now - cached.checked_at
            # A missing secret is written by a person at any moment: look again on every scan.
            if cached.check.ok and age < rt.settings.credentials_recheck:
                continue
        due.append((key, spec, fp))
    semaphore = asyncio.Semaphore(CHECK_CONCURRENCY)

    async def one(key: Key, spec: MailboxSpec, fp: str) -> None:
        async with semaphore:
            result = await check_credentials(spec.credentials, key[0], rt.vault, rt.kube)
        previous = rt.credentials.get(key)
        if result.temporary and previous is not None and previous.fingerprint == fp:
            # Vault down does not make good credentials bad; keep the verdict, report on the pool.
            return
        rt.credentials[key] = CachedCheck(fp, result, time.monotonic())

    await asyncio.gather(*(one(k, s, fp) for k, s, fp in due))


def _event(body: Any, type_: str, reason: str, message: str) -> None:
    try:
        kopf.event(body, type=type_, reason=reason, message=message)
    except Exception:  # events are best effort: never fail a reconcile for one
        log.debug("Posting event failed", exc_info=True)


async def _patch_many(rt: Runtime, plural: str, patches: list[tuple[str, str, dict[str, Any]]]) -> None:
    semaphore = asyncio.Semaphore(PATCH_CONCURRENCY)

    async def one(namespace: str, name: str, patch: dict[str, Any]) -> None:
        async with semaphore:
            await rt.kube.patch_status(plural, namespace, name, patch)

    await asyncio.gather(*(one(*p) for p in patches))


def _pause_state(memory: Mapping[str, Any]) -> PauseState:
    return PauseState(
        paused_at=_parse_time(memory.get("pausedAt")),
        reason=memory.get("reason"),
        message=memory.get("message"),
    )


def _pause_memory(state: PauseState) -> dict[str, Any]:
    return {
        "pausedAt": state.paused_at.isoformat() if state.paused_at else None,
        "reason": state.reason,
        "message": state.message,
    }


async def reconcile_pool(rt: Runtime, key: Key, now: dt.datetime) -> None:
    """One full, level-based pass over a pool."""
    body = rt.pools.get(key)
    if body is None:
        return
    namespace, name = key
    meta = body.get("metadata", {})
    generation = meta.get("generation")
    current_status: Mapping[str, Any] = body.get("status") or {}
    conditions = list(current_status.get("conditions") or [])
    try:
        spec = MailboxPoolSpec.model_validate(body.get("spec") or {})
    except pydantic.ValidationError as e:
        # Permanent: the spec must change before anything else can happen.
        conditions = set_condition(
            conditions, "Ready", False, "InvalidSpec", str(e)[:1000], generation=generation, now=now
        )
        await _write_pool_status(
            rt, key, current_status, {"observedGeneration": generation, "conditions": conditions}
        )
        return

    database = await rt.database()
    if database is None:
        conditions = set_condition(
            conditions,
            "DatabaseReady",
            False,
            "DatabaseUnreachable",
            rt.db_error or "",
            generation=generation,
            now=now,
        )
        conditions = with_ready(conditions, ["DatabaseReady"], generation=generation, now=now)
        await _write_pool_status(
            rt, key, current_status, {"observedGeneration": generation, "conditions": conditions}
        )
        return
    conditions = set_condition(
        conditions, "DatabaseReady", True, "Connected", "Postgres reachable", generation=generation, now=now
    )

    # Auto-pause state and how a person resumes: spec.paused takes over an automatic pause, and
    # the resume annotation (potctl resume) acknowledges it.
    memory = rt.pool_memory.get(key, {})
    previous_pause = _pause_state(memory)
    if spec.paused and previous_pause.paused_at is not None:
        previous_pause = PauseState()
    acknowledged_at = _parse_time((meta.get("annotations") or {}).get(RESUME_ANNOTATION))

    selection = select_mailboxes(rt, key, spec.selector)
    invalid = selection.invalid
    selected: list[tuple[Key, dict[str, Any], ParsedMailbox]] = [
        (mkey, rt.mailboxes[mkey], parsed) for mkey, parsed in selection.mailboxes if mkey in rt.mailboxes
    ]

    def policy(paused: bool) -> PoolPolicy:
        return policy_from_spec(name, spec, paused=paused)

    pool_id = await db.upsert_pool(
        database, _pool_row(namespace, name, spec, spec.paused or previous_pause.paused_at is not None)
    )
    ids = await db.mailbox_ids(database, pool_id)
    base_policy = policy(spec.paused or previous_pause.paused_at is not None)
    since = {
        ids[mkey[1]][0]: window_since(rt.mailbox_memory.get(mkey, _EMPTY_MEMORY), base_policy, now)
        for mkey, _, _ in selected
        if mkey[1] in ids
    }
    counts = await db.window_counts(database, since)
    await _refresh_credentials(rt, [(mkey, parsed) for mkey, _, parsed in selected])
    listed = await _blocklisted_targets(rt, [parsed for _, _, parsed in selected])
    fresh: set[Key] = set()  # mailboxes planned anew this scan (the others reuse an unchanged plan)

    def plan_all(pool_policy: PoolPolicy) -> list[tuple[Key, dict[str, Any], MailboxPlan]]:
        plans = []
        today = now.date()
        for mkey, mbody, parsed in selected:
            mid = ids.get(mkey[1])
            window, sent_today = counts.get(mid[0], _NO_COUNTS) if mid else _NO_COUNTS
            cached = rt.credentials.get(mkey)
            check = cached.check if cached else None
            rejected = bool(mid and mid[1] == "credentials_bad") and not (
                cached is not None and cached.check.ok and _changed_since_rejection(mbody)
            )
            memory = rt.mailbox_memory.get(mkey, _EMPTY_MEMORY)
            listing = listed.get(parsed.target)
            inputs = (pool_policy, window, sent_today, check, rejected, memory, today, listing)
            memo: PlanMemo | None = rt.plan_memo.get(mkey)
            if (
                memo is not None
                and memo.inputs == inputs
                and not time_sensitive(memory, pool_policy, now)
                and (memo.body is mbody or _echo_of(memo, mbody))
            ):
                if memo.body is not mbody:
                    # The watch brought back what we wrote: the plan stands, nothing to send.
                    memo.body, memo.patch_pending = mbody, False
                plans.append((mkey, mbody, memo.plan))
                continue
            observed = Observed(
                namespace=namespace,
                name=mkey[1],
                generation=mbody.get("metadata", {}).get("generation"),
                spec=parsed.spec,
                created=_creation_date(mbody, now),
                status=mbody.get("status") or {},
                counts=window,
                sent_today=sent_today,
                credentials=check,
                worker_rejected_credentials=rejected,
                memory=memory,
                blocklisted=listing,
            )
            plan = plan_mailbox(observed, pool_policy, now)
            # Planning again with the memory this plan leaves behind gives the same plan (same day,
            # nothing time-sensitive), so that memory is what the next scan's inputs are compared to.
            settled = (*inputs[:5], plan.memory, *inputs[6:])
            rt.plan_memo[mkey] = PlanMemo(settled, mbody, plan)
            fresh.add(mkey)
            plans.append((mkey, mbody, plan))
        return plans

    plans = plan_all(base_policy)
    aggregate = sum((p.window_counts for _, _, p in plans), WindowCounts())
    cooling = sum(1 for _, _, p in plans if p.cooling)
    decision = decide_auto_pause(
        aggregate,
        base_policy.thresholds,
        mailboxes_total=len(plans),
        mailboxes_cooling=cooling,
        previous=previous_pause,
        now=now,
        policy=ResumePolicy.AFTER_DELAY if spec.auto_pause.resume == "afterCooldown" else ResumePolicy.MANUAL,
        resume_after_seconds=spec.health.cooldown_seconds,
        acknowledged_at=acknowledged_at,
    )
    if not spec.auto_pause.enabled:
        decision = type(decision)(PauseState(), started=False, resumed=previous_pause.paused_at is not None)
    paused = spec.paused or decision.paused
    if paused != base_policy.paused:
        plans = plan_all(policy(paused))
        await db.upsert_pool(database, _pool_row(namespace, name, spec, paused))

    # Mailboxes: status, limits for the workers, remembered state, events.
    # A reused plan was made from this very body with these inputs: its patch was computed (and
    # sent) then, its events emitted, its memory saved; only a pending patch is looked at again.
    patches: list[tuple[str, str, dict[str, Any]]] = []
    rows: list[db.MailboxRow] = []
    parsed_by_key = {mkey: parsed for mkey, _, parsed in selected}
    newly_listed: dict[Target, list[str]] = {}
    for mkey, mbody, plan in plans:
        memo = rt.plan_memo[mkey]
        if mkey in fresh or memo.patch_pending:
            patch = status_patch(mbody.get("status"), plan.status)
            memo.patch_pending = patch is not None
            if patch is not None:
                patches.append((mkey[0], mkey[1], patch))
        if mkey in fresh:
            if rt.mailbox_memory.get(mkey) != plan.memory:
                rt.mailbox_memory[mkey] = plan.memory
                await db.save_object_state(database, "Mailbox", mkey[0], mkey[1], plan.memory.to_json())
            for type_, reason, message in plan.events:
                _event(mbody, type_, reason, message)
                if reason == "CooldownStarted" and message.startswith(BLOCKLIST_REASON):
                    newly_listed.setdefault(parsed_by_key[mkey].target, []).append(mkey[1])
            metrics.mailbox_health_score.labels(mkey[0], mkey[1]).set(plan.health_score)
            metrics.mailbox_blocklisted.labels(mkey[0], mkey[1]).set(
                1 if listed.get(parsed_by_key[mkey].target) else 0
            )
        if mkey[1] not in ids or rt.upserted.get(mkey) != (pool_id, plan.row):
            rows.append(plan.row)
    await db.upsert_mailboxes(database, pool_id, namespace, rows)
    for mkey, _, plan in plans:
        rt.upserted[mkey] = (pool_id, plan.row)
    await _patch_many(rt, "mailboxes", patches)
    # Written: until the watch brings the new body, the same plan would only send the same patch.
    for mkey, _, _ in plans:
        rt.plan_memo[mkey].patch_pending = False
    log.debug(
        "Reconciled pool mailboxes: pool=%s/%s mailboxes=%d planned=%d patched=%d upserted=%d",
        namespace,
        name,
        len(plans),
        len(fresh),
        len(patches),
        len(rows),
    )

    routes = spec.alerts
    for target, names in sorted(newly_listed.items()):
        log.warning(
            "Cooled down blocklisted mailboxes: pool=%s/%s domain=%s mailboxes=%s",
            namespace,
            name,
            target.domain,
            ",".join(sorted(names)[:20]),
        )
        rt.alerts.notify(
            namespace,
            name,
            routes,
            f"blocklist:{target.domain}",
            f"POT: {target.domain} (SMTP host {target.smtp_host}) is on a blocklist: {listed[target]}. "
            f"Cooled down {len(names)} mailbox(es) of pool {namespace}/{name}: "
            + ", ".join(sorted(names)[:10]),
        )

    # The pool's own pause bookkeeping and its announcements.
    new_memory = _pause_memory(decision.state)
    if new_memory != {**_pause_memory(PauseState()), **memory}:
        rt.pool_memory[key] = new_memory
        await db.save_object_state(database, "MailboxPool", namespace, name, new_memory)
    if decision.started:
        message = f"Paused automatically: {decision.state.reason} ({decision.state.message})"
        _event(body, "Warning", "AutoPaused", message)
        log.warning("Paused pool automatically: pool=%s/%s reason=%s", namespace, name, decision.state.reason)
        rt.alerts.notify(
            namespace,
            name,
            routes,
            "AutoPaused",
            f"POT: pool {namespace}/{name} {message[0].lower()}{message[1:]}",
        )
    if decision.resumed:
        _event(body, "Normal", "Resumed", "Resumed after an automatic pause")
        log.info("Resumed pool: pool=%s/%s", namespace, name)
        rt.alerts.notify(
            namespace,
            name,
            routes,
            "Resumed",
            f"POT: pool {namespace}/{name} resumed after an automatic pause",
        )

    # Workers: replicas follow the sendable backlog.
    backlog = await db.due_backlog(database, pool_id)
    sending = [p for _, _, p in plans if p.row.state == "active"]
    capacity = sum(max(0, p.row.daily_cap - p.status["sentToday"]) for p in sending)
    replicas = desired_replicas(
        due_jobs=backlog,
        capacity_remaining=capacity,
        sends_per_worker=spec.workers.sends_per_worker_per_hour,
        min_replicas=spec.workers.min_replicas,
        max_replicas=spec.workers.max_replicas,
        paused=paused,
    )
    deployment = build_worker_deployment(
        PoolRef(namespace=namespace, name=name, uid=meta.get("uid", "")),
        WorkerSettings(replicas=replicas, image=spec.workers.image),
        rt.settings,
    )
    actual = await rt.kube.read_deployment(namespace, deployment["metadata"]["name"])
    if actual is None:
        await rt.kube.create_deployment(deployment)
        log.info("Created worker Deployment: pool=%s/%s replicas=%d", namespace, name, replicas)
    else:
        drift = deployment_drift(actual, deployment)
        if drift is not None:
            await rt.kube.patch_deployment(namespace, deployment["metadata"]["name"], drift)
            log.info("Updated worker Deployment: pool=%s/%s replicas=%d", namespace, name, replicas)

    # The pool's status.
    by_state = {
        s: sum(1 for _, _, p in plans if p.state == s)
        for s in ("Warming", "Active", "Cooling", "Paused", "Failed")
    }
    r = rates(aggregate)
    scores = [p.health_score for _, _, p in plans]
    sent_today = sum(p.status["sentToday"] for _, _, p in plans)
    if decision.paused:
        pause_reason: str | None = f"{decision.state.reason}: {decision.state.message}"
    elif spec.paused:
        pause_reason = spec.pause_reason or "Paused by spec"
    else:
        pause_reason = None
    health_ok = health_score(aggregate, base_policy.thresholds)
    conditions = set_condition(
        conditions,
        "AutoPaused",
        decision.paused,
        decision.state.reason or "WithinThresholds",
        decision.state.message or "Aggregate rates within the pool's thresholds",
        generation=generation,
        now=now,
    )
    if invalid:
        conditions = set_condition(
            conditions,
            "MailboxesValid",
            False,
            "InvalidMailboxSpec",
            f"Invalid spec: {', '.join(sorted(invalid)[:10])}",
            generation=generation,
            now=now,
        )
    else:
        conditions = set_condition(
            conditions,
            "MailboxesValid",
            True,
            "AllValid",
            "Every selected Mailbox parsed",
            generation=generation,
            now=now,
        )
    blocked = None
    if decision.paused:
        blocked = ("AutoPaused", pause_reason or "")
    elif spec.paused:
        blocked = ("Paused", pause_reason or "")
    elif not plans:
        blocked = ("NoMailboxes", "The selector matches no Mailbox")
    conditions = with_ready(conditions, ["DatabaseReady"], generation=generation, now=now, blocked=blocked)
    desired_status: dict[str, Any] = {
        "observedGeneration": generation,
        "mailboxes": {
            "total": len(plans),
            "warming": by_state["Warming"],
            "active": by_state["Active"],
            "cooling": by_state["Cooling"],
            "paused": by_state["Paused"],
            "failed": by_state["Failed"],
        },
        "capacityToday": capacity,
        "sentToday": sent_today,
        "workerReplicas": replicas,
        "health": {
            "windowSeconds": spec.health.window_seconds,
            "sent": aggregate.sent,
            "bounceRateBasisPoints": round(r.bounce * 10000),
            "complaintRateBasisPoints": round(r.complaint * 10000),
            "deferralRateBasisPoints": round(r.deferral * 10000),
            "score": round(sum(scores) / len(scores)) if scores else health_ok.score,
        },
        "paused": paused,
        "pauseReason": pause_reason,
        "conditions": conditions,
    }
    await _write_pool_status(rt, key, current_status, desired_status)
    labels = (namespace, name)
    metrics.pool_sent_window.labels(*labels).set(aggregate.sent)
    metrics.pool_bounce_rate.labels(*labels).set(r.bounce)
    metrics.pool_complaint_rate.labels(*labels).set(r.complaint)
    metrics.pool_paused.labels(*labels).set(1 if paused else 0)
    metrics.pool_capacity_today.labels(*labels).set(capacity)
    metrics.pool_sent_today.labels(*labels).set(sent_today)


@dataclasses.dataclass
class PlanMemo:
    """A mailbox's last plan, the inputs and the very body it was made from."""

    inputs: tuple[Any, ...]
    body: dict[str, Any]
    plan: MailboxPlan
    patch_pending: bool = True


def _echo_of(memo: PlanMemo, body: dict[str, Any]) -> bool:
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


async def _blocklisted_targets(rt: Runtime, mailboxes: list[ParsedMailbox]) -> dict[Target, str]:
    """The pool's sending domains that are listed, rechecked per domain every POT_DOMAIN_RECHECK.

    Without configured blocklists there is nothing to recheck. DNS trouble makes a check warn, so
    it never cools a mailbox down.
    """
    if not rt.checks.has_blocklists or not mailboxes:
        return {}
    targets = sorted({m.target for m in mailboxes})
    return blocklisted(await rt.checks.reports(targets, max_age=rt.settings.domain_recheck))


def _changed_since_rejection(body: Mapping[str, Any]) -> bool:
    """Whether a person changed the Mailbox after the worker rejected its credentials.

    The worker's 'credentials_bad' sticks until the Mailbox's spec changes (a new generation that
    the status has not observed yet), so a fixed secret is picked up when the person says so.
    """
    status = body.get("status") or {}
    return bool(body.get("metadata", {}).get("generation") != status.get("observedGeneration"))


def _pool_row(namespace: str, name: str, spec: MailboxPoolSpec, paused: bool) -> db.PoolRow:
    w = spec.sending_window
    return db.PoolRow(
        namespace=namespace,
        name=name,
        domain_hourly_limit=spec.limits.per_recipient_domain_per_hour,
        window_start=dt.time.fromisoformat(w.start) if w else None,
        window_end=dt.time.fromisoformat(w.end) if w else None,
        time_zone=w.time_zone if w else "UTC",
        window_days=[WEEKDAYS.index(d) + 1 for d in w.days] if w else [1, 2, 3, 4, 5, 6, 7],
        paused=paused,
    )


async def _write_pool_status(
    rt: Runtime, key: Key, current: Mapping[str, Any], desired: dict[str, Any]
) -> None:
    patch = status_patch(current, desired)
    if patch is not None:
        await rt.kube.patch_status("mailboxpools", key[0], key[1], patch)
