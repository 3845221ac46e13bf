"""One MailboxPool scan: observe → plan → apply; called by the pool daemon in pot_operator.main."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pot_operator.index import Key
from pot_operator.pool.apply import apply_pool
from pot_operator.pool.observe import observe_pool
from pot_operator.pool.plan import plan_pool

if TYPE_CHECKING:
    from pot_operator.runtime import Runtime


async def reconcile_pool(rt: Runtime, key: Key, now: dt.datetime) -> None:
    """One full, level-based pass over a pool, its mailboxes, their limits in Postgres and its workers."""
    observed = await observe_pool(rt, key, now)
    if observed is not None:
        await apply_pool(rt, plan_pool(observed, now))
