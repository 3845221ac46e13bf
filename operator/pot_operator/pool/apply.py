"""The MailboxPool controller's apply step: writes a PoolPlan, only what differs from what is there.

Called by pot_operator.pool.reconcile. Postgres (pool and mailbox rows, remembered state), status
patches, Events, alerts, the worker and ingester Deployments and the metrics; no decision is taken here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import kopf

from pot_operator import db, metrics
from pot_operator.index import Key
from pot_operator.pool.ingester import apply_ingester
from pot_operator.pool.plan import PoolPlan, PoolWrites

if TYPE_CHECKING:
    import asyncpg

    from pot_operator.runtime import Runtime

log = logging.getLogger(__name__)
PATCH_CONCURRENCY = 16


async def apply_pool(rt: Runtime, plan: PoolPlan) -> None:
    w = plan.writes
    if w is not None:
        database = await rt.database()
        assert database is not None  # observed connected: the pool stays connected
        pool_id = await db.upsert_pool(database, w.row)
        await _apply_mailboxes(rt, database, pool_id, plan.key, w)
        await _apply_pause(rt, database, plan, w)
        await _apply_deployment(rt, plan.key, w)
        if w.ingester is not None:
            await apply_ingester(rt, w.ingester)
        rt.recommendations[plan.key] = w.recommendations
    if plan.status_patch is not None:
        await rt.kube.patch_status("mailboxpools", plan.key[0], plan.key[1], plan.status_patch)
    if w is not None:
        g = w.gauges
        labels = plan.key
        metrics.pool_sent_window.labels(*labels).set(g.sent_window)
        metrics.pool_bounce_rate.labels(*labels).set(g.bounce_rate)
        metrics.pool_complaint_rate.labels(*labels).set(g.complaint_rate)
        metrics.pool_paused.labels(*labels).set(1 if g.paused else 0)
        metrics.pool_capacity_today.labels(*labels).set(g.capacity_today)
        metrics.pool_sent_today.labels(*labels).set(g.sent_today)


async def _apply_mailboxes(
    rt: Runtime, database: asyncpg.Pool, pool_id: int, key: Key, w: PoolWrites
) -> None:
    """Remembered state, Events, limits for the workers, status patches; then the memos for the next scan."""
    writes = w.mailbox_writes
    for mkey, memory in writes.memories.items():
        rt.mailbox_memory[mkey] = memory
        await db.save_object_state(database, "Mailbox", mkey[0], mkey[1], memory.to_json())
    for body, type_, reason, message in writes.events:
        post_event(body, type_, reason, message)
    for mkey, score, listed in writes.gauges:
        metrics.mailbox_health_score.labels(*mkey).set(score)
        metrics.mailbox_blocklisted.labels(*mkey).set(1 if listed else 0)
    await db.upsert_mailboxes(database, pool_id, key[0], writes.rows)
    for p in w.mailboxes:
        rt.upserted[p.key] = (pool_id, p.plan.row)
    await _patch_statuses(rt, "mailboxes", writes.patches)
    # Written: the next scan reuses these plans while their inputs and bodies stay as they are.
    rt.plan_memo.update(writes.memos)
    log.debug(
        "Reconciled pool mailboxes: pool=%s/%s mailboxes=%d planned=%d patched=%d upserted=%d",
        key[0],
        key[1],
        len(w.mailboxes),
        sum(1 for p in w.mailboxes if p.fresh),
        len(writes.patches),
        len(writes.rows),
    )


async def _apply_pause(rt: Runtime, database: asyncpg.Pool, plan: PoolPlan, w: PoolWrites) -> None:
    """The pool's pause bookkeeping, its Events, the blocklist and pause alerts and their log lines."""
    namespace, name = plan.key
    for target, names in sorted(w.mailbox_writes.newly_listed.items()):
        log.warning(
            "Cooled down blocklisted mailboxes: pool=%s/%s domain=%s mailboxes=%s",
            namespace,
            name,
            target.domain,
            ",".join(sorted(names)[:20]),
        )
    if w.pause_memory is not None:
        rt.pool_memory[plan.key] = w.pause_memory
        await db.save_object_state(database, "MailboxPool", namespace, name, w.pause_memory.to_json())
    if w.pause.started:
        log.warning("Paused pool automatically: pool=%s/%s reason=%s", namespace, name, w.pause.state.reason)
    if w.pause.resumed:
        log.info("Resumed pool: pool=%s/%s", namespace, name)
    for type_, reason, message in w.events:
        post_event(plan.body, type_, reason, message)
    for key, text in w.alerts:
        rt.alerts.notify(namespace, name, w.routes, key, text)


async def _apply_deployment(rt: Runtime, key: Key, w: PoolWrites) -> None:
    change = w.deployment
    if change.create is not None:
        await rt.kube.create_deployment(change.create)
        log.info("Created worker Deployment: pool=%s/%s replicas=%d", key[0], key[1], change.replicas)
    elif change.patch is not None:
        await rt.kube.patch_deployment(key[0], change.name, change.patch)
        log.info("Updated worker Deployment: pool=%s/%s replicas=%d", key[0], key[1], change.replicas)


def post_event(body: Any, type_: str, reason: str, message: str) -> None:
    try:
        kopf.event(body, type=type_, reason=reason, message=message)
    except Exception:  # events are best effort: never fail a reconcile for one
        log.debug("Posting event failed", exc_info=True)


async def _patch_statuses(rt: Runtime, plural: str, patches: list[tuple[Key, dict[str, Any]]]) -> None:
    semaphore = asyncio.Semaphore(PATCH_CONCURRENCY)

    async def one(key: Key, patch: dict[str, Any]) -> None:
        async with semaphore:
            await rt.kube.patch_status(plural, key[0], key[1], patch)

    await asyncio.gather(*(one(*p) for p in patches))
