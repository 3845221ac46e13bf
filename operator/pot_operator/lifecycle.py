"""What happens when a Campaign, MailboxPool or Mailbox is deleted, and how a re-created one starts fresh.

Called by the kopf delete handlers in pot_operator.main (Campaigns and pools hold kopf's finalizer
until this ran; a Mailbox has none, its DELETED event is enough), by the campaign controller's
apply step (`adopt_campaign`, before it projects a campaign) and by the pool controller's observe step
(`StateOwners.check`: remembered state belongs to the object whose uid it carries, so a pool or mailbox
re-created under a name while the operator was away or missed the delete starts fresh).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

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
    OWNERS.forget("MailboxPool", key)
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
    OWNERS.forget("Mailbox", key)
    log.info("Paused deleted mailbox: mailbox=%s/%s", namespace, name)


@dataclasses.dataclass
class StateOwners:
    """Which object (uid) each remembered state belongs to, for one operator process.

    The uid is kept in the state's own row (key `uid` of its data; save_object_state.sql keeps it
    when the state is saved again). The first time a process sees an object it compares the stored
    uid: another uid means the state was an earlier object's, and it is forgotten. A row without a uid
    (saved before uids were kept, or not stamped yet) is taken as this object's and stamped.
    Afterwards each scan costs a dictionary lookup; an object whose uid changes under a running
    operator (a delete it missed) is caught the same way.
    """

    verified: dict[tuple[str, Key], str] = dataclasses.field(default_factory=dict)
    stamped: set[tuple[str, Key]] = dataclasses.field(default_factory=set)
    stored: dict[str, dict[Key, str | None]] = dataclasses.field(default_factory=dict)

    async def check(
        self,
        database: asyncpg.Pool,
        kind: str,
        objects: Iterable[tuple[Key, str | None]],
        memory: MutableMapping[Key, Any],
    ) -> list[Key]:
        """Forget the remembered state of `objects` (key, uid) that belongs to an earlier object of the
        same name, stamp what is theirs; returns the keys forgotten."""
        if kind not in self.stored:
            rows = await db.load_object_states(database, kind)
            self.stored[kind] = {k: (str(v["uid"]) if v.get("uid") else None) for k, v in rows.items()}
        stored = self.stored[kind]
        forgotten = []
        for key, uid in objects:
            if not uid:
                continue
            mark = (kind, key)
            known = self.verified.get(mark) or stored.get(key)
            if known is not None and known != uid:
                memory.pop(key, None)
                stored.pop(key, None)
                self.stamped.discard(mark)
                await database.execute(db.sql("delete_object_state"), kind, key[0], key[1])
                forgotten.append(key)
                log.info(
                    "Forgot state of an earlier object: kind=%s name=%s/%s uid=%s", kind, key[0], key[1], uid
                )
            self.verified[mark] = uid
            if key in memory and mark not in self.stamped:
                if stored.get(key) != uid:
                    await db.save_object_state(database, kind, key[0], key[1], {"uid": uid})
                    stored[key] = uid
                self.stamped.add(mark)
        return forgotten

    def forget(self, kind: str, key: Key) -> None:
        """A deleted object: the next one of its name is checked afresh."""
        self.verified.pop((kind, key), None)
        self.stamped.discard((kind, key))
        self.stored.get(kind, {}).pop(key, None)


# One per operator process, like the remembered state it guards (Runtime.pool_memory, mailbox_memory).
OWNERS = StateOwners()
