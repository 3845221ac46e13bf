"""One Campaign scan: observe → plan the projection → apply it → read the counts → plan the lifecycle →
apply it. Called by the campaign daemon in pot_operator.main."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from pot_operator.campaign.apply import apply_lifecycle, apply_projection
from pot_operator.campaign.observe import observe_campaign, observe_counts
from pot_operator.campaign.plan import plan_lifecycle, plan_projection
from pot_operator.campaign.waits import pool_pause
from pot_operator.index import Body, Key

if TYPE_CHECKING:
    from pot_operator.runtime import Runtime


async def reconcile_campaign(rt: Runtime, key: Key, body: Body, now: dt.datetime) -> None:
    """Validate pool and recipients, materialise send jobs once, then track phase and counts."""
    observed = await observe_campaign(rt, key, body)
    if observed.spec is not None:  # a paused pool holds the campaign: its status says so
        pool = observed.spec.pool_ref.name
        paused = pool_pause(key[0], pool, rt.index.pools.get((key[0], pool)))
        observed = dataclasses.replace(observed, pool_pause=paused)
    projection = plan_projection(observed, now)
    loaded = await apply_projection(rt, observed, projection, now)
    if loaded is None:
        return
    counts = await observe_counts(rt, loaded.campaign_id)
    lifecycle = plan_lifecycle(observed, projection, loaded, counts, now)
    await apply_lifecycle(rt, observed, loaded, counts, lifecycle)
