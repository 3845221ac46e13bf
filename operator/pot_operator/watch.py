"""What the Mailbox and MailboxPool event handlers do with each watched object, kept out of main.py.

Called by the kopf event handlers in pot_operator.main. They keep the index current, mark the pools
that must scan again and, for a mailbox no pool selects, return the status that says so (the
handler patches it: that is the Mailbox controller's whole apply step for unselected mailboxes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pot_operator import metrics
from pot_operator.index import Body, Key
from pot_operator.mailbox.plan import plan_unselected
from pot_operator.statusdiff import status_patch

if TYPE_CHECKING:
    from pot_operator.runtime import Runtime


def unselected_patch(body: Mapping[str, Any], now: dt.datetime) -> dict[str, Any] | None:
    """The status patch of a mailbox no pool selects, None when its status already says so."""
    desired = plan_unselected(body["metadata"]["generation"], body["status"], now)
    return status_patch(body["status"], desired)


def mailbox_deleted(rt: Runtime, key: Key, labels: Mapping[str, str]) -> None:
    rt.forget_mailbox(key)
    for pool in rt.index.pools_selecting(key[0], labels):
        rt.mark_dirty((key[0], pool))


def mailbox_seen(rt: Runtime, key: Key, snapshot: Body, now: dt.datetime) -> dict[str, Any] | None:
    """Keep the mailbox's body; its owning pools scan again when its spec or metadata changed. Returns
    the status patch when no pool selects it."""
    index = rt.index
    previous = index.mailboxes.get(key)
    index.mailboxes[key] = snapshot
    labels = snapshot["metadata"]["labels"]
    owners = index.pools_selecting(key[0], labels)
    if previous is not None and previous["metadata"]["labels"] != labels:
        owners += index.pools_selecting(key[0], previous["metadata"]["labels"])
    changed = previous is None or any(previous[k] != snapshot[k] for k in ("spec", "metadata"))
    if changed:
        index.mailbox_version += 1
    if owners:
        if changed:
            for pool in set(owners):
                rt.mark_dirty((key[0], pool))
        return None
    return unselected_patch(snapshot, now)


async def pool_deleted(rt: Runtime, key: Key, now: dt.datetime) -> None:
    """Its mailboxes may now belong to another pool, or to none and must say so."""
    rt.index.forget_pool(key)
    metrics.forget_pool(*key)
    for mkey, mbody in list(rt.index.mailboxes.items()):
        if mkey[0] != key[0]:
            continue
        owners = rt.index.pools_selecting(key[0], mbody["metadata"]["labels"])
        for pool in owners:
            rt.mark_dirty((key[0], pool))
        if not owners and mbody["status"].get("pool") == key[1]:
            patch = unselected_patch(mbody, now)
            if patch is not None:
                await rt.kube.patch_status("mailboxes", mkey[0], mkey[1], patch)


def pool_seen(rt: Runtime, key: Key, snapshot: Body) -> None:
    """Keep the pool's body; it scans again (and every pool re-selects) when its spec or metadata changed."""
    previous = rt.index.pools.get(key)
    rt.index.pools[key] = snapshot
    if previous is None or any(previous[k] != snapshot[k] for k in ("spec", "metadata")):
        rt.index.pool_version += 1
        rt.mark_dirty(key)
