"""What happens when a Campaign, MailboxPool or Mailbox is deleted, and how a re-created one starts fresh.

Called by the kopf delete handlers in pot_operator.main (Campaigns and pools hold kopf's finalizer
until this ran; a Mailbox has none, its DELETED event is enough) and by the campaign controller's
apply step (`adopt_campaign`, before it projects a campaign).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import asyncpg

from pot_operator import db, metrics
from pot_operator.index import Key
from pot_operator.manifests import worker_deployment_name

if TYPE_CHECKING:
    from pot_operator.runtime import Runtime

log = logging.getLogger(__name__)


async def adopt_campaign(database: asyncpg.Pool, key: Key, uid: str) -> None:
    """The campaign's row is this object's: a row of an earlier object of the same name steps aside."""
    if uid:
        await database.execute(db.sql("retire_campaign"), key[0], key[1], uid)


async def campaign_deleted(rt: Runtime, key: Key, uid: str) -> int:
    """Stop the campaign's sending now: its row and open jobs 'cancelled'. Returns the jobs cancelled."""
    namespace, name = key
    rt.campaign_memory.pop(key, None)
    database = await rt.database()
    if database is None:
        raise RuntimeError(f"Postgres unreachable: campaign {namespace}/{name} not cancelled yet")
    cancelled = int(await database.fetchval(db.sql("cancel_campaign"), namespace, name, uid or None))
    await database.execute(db.sql("delete_object_state"), "Campaign", namespace, name)
    metrics.forget_campaign(namespace, name)
    log.info("Cancelled deleted campaign: campaign=%s/%s jobs_cancelled=%d", namespace, name, cancelled)
    return cancelled


async def pool_deleted(rt: Runtime, key: Key) -> None:
    """Its workers scaled to zero, the pool and its mailboxes paused for any worker still running, its
    remembered state forgotten (a pool re-created under its name is not auto-paused)."""
    namespace, name = key
    rt.index.forget_pool(key)
    rt.pool_memory.pop(key, None)
    rt.recommendations.pop(key, None)
    deployment = await rt.kube.read_deployment(namespace, worker_deployment_name(name))
    if deployment is not None and (deployment.get("spec") or {}).get("replicas"):
        await rt.kube.patch_deployment(namespace, worker_deployment_name(name), {"spec": {"replicas": 0}})
    database = await rt.database()
    if database is None:
        raise RuntimeError(f"Postgres unreachable: pool {namespace}/{name} not paused yet")
    marked = int(await database.fetchval(db.sql("pool_deleted"), namespace, name))
    await database.execute(db.sql("delete_object_state"), "MailboxPool", namespace, name)
    log.info("Stopped deleted pool: pool=%s/%s workers=0 mailboxes_paused=%d", namespace, name, marked)


async def mailbox_deleted(rt: Runtime, key: Key) -> None:
    """Its row paused (the workers send nothing more from it), its remembered state forgotten."""
    namespace, name = key
    rt.mailbox_memory.pop(key, None)
    database = await rt.database()
    if database is None:
        log.warning("Pausing deleted mailbox failed: mailbox=%s/%s error=%s", namespace, name, rt.db_error)
        return
    await database.execute(db.sql("mailbox_deleted"), namespace, name)
    await database.execute(db.sql("delete_object_state"), "Mailbox", namespace, name)
    log.info("Paused deleted mailbox: mailbox=%s/%s", namespace, name)
