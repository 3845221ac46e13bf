"""The Campaign controller's apply steps: the projection's writes, then the lifecycle's.

Called by pot_operator.campaign.reconcile. Postgres (campaign row, send jobs, remembered state, the
verification run, an ended campaign's final counts), the checker Job,
the status patch, alerts, logs and the preflight metric; no decision is taken here.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from pot_operator import db, metrics
from pot_operator.campaign import waits
from pot_operator.campaign.plan import (
    CampaignMemory,
    CampaignObserved,
    Lifecycle,
    Loaded,
    Projection,
    early_patch,
)
from pot_operator.campaign.waits import postponements
from pot_operator.lifecycle import adopt_campaign
from pot_operator.pool.apply import post_event
from pot_operator.retention import counts_final_due
from pot_operator.verification.apply import apply_verification, materialise_verified

if TYPE_CHECKING:
    from pot_operator.runtime import Runtime

log = logging.getLogger(__name__)


async def apply_projection(
    rt: Runtime, o: CampaignObserved, p: Projection, now: dt.datetime
) -> Loaded | None:
    """Project the campaign and load its recipients once; None when the scan stops here (its status
    written)."""
    namespace, name = o.key
    if p.preflight_failing is not None:
        metrics.campaign_preflight_failing.labels(namespace, name).set(1 if p.preflight_failing else 0)
    _notify(rt, o, p.alerts)
    for type_, reason, message in p.events:
        post_event(o.body, type_, reason, message)
    loaded = None
    if p.row is not None:
        loaded = await _project(rt, o, p, now)
    step = p.verification
    creates = step is not None and (step.create_run or step.create_job)
    if creates and step is not None and o.verification is not None and o.spec is not None:
        rows = o.recipients.rows if o.recipients is not None else None
        await apply_verification(rt, o.key, o.body, o.spec, o.verification, step, rows)
    if p.status is not None:
        await _write_status(rt, o, early_patch(o, p.status))
        return None
    return loaded


async def _project(rt: Runtime, o: CampaignObserved, p: Projection, now: dt.datetime) -> Loaded:
    assert p.row is not None and o.pool_id is not None and o.spec is not None
    database = await rt.database()
    assert database is not None  # observed connected: the pool stays connected
    namespace, name = o.key
    uid = o.body.get("metadata", {}).get("uid") or ""
    await adopt_campaign(database, o.key, uid)  # a row of an earlier object steps aside
    campaign_id, _, jobs = await db.upsert_campaign(database, o.pool_id, p.row)
    await adopt_campaign(database, o.key, uid)  # a row just made takes the uid
    suppressed_at_load = o.memory.suppressed_at_load or 0
    if not p.load:
        if p.postpone and jobs:
            await _postpone(database, campaign_id, o, now)
        return Loaded(campaign_id, None, suppressed_at_load, o.memory.invalid_at_load, o.memory.risky_at_load)
    rows = o.recipients.rows if o.recipients is not None else None
    import_name = o.spec.recipients.import_name if o.recipients is None else None
    invalid = risky = 0
    run = o.verification.run if o.verification is not None else None
    if p.verification is not None and p.verification.done and run is not None:
        skip_risky = o.spec.verification.risky == "skip"
        inserted, suppressed_at_load, invalid, risky = await materialise_verified(
            database, campaign_id, p.row.tenant, rows, import_name, skip_risky, run.id
        )
    else:
        inserted, suppressed_at_load = await db.materialise_send_jobs(
            database, campaign_id, p.row.tenant, rows, import_name
        )
    memory = CampaignMemory(suppressed_at_load, invalid, risky)
    if o.memory != memory:
        rt.campaign_memory[o.key] = memory
        await db.save_object_state(database, "Campaign", namespace, name, memory.to_json())
    log.info(
        "Materialised send jobs: campaign=%s/%s inserted=%d invalid_skipped=%d risky_skipped=%d",
        namespace,
        name,
        inserted,
        invalid,
        risky,
    )
    if p.postpone:  # before the row lets workers claim them
        await _postpone(database, campaign_id, o, now)
    if inserted or jobs:
        await db.set_campaign_state(database, campaign_id, p.db_state)
    return Loaded(campaign_id, inserted, suppressed_at_load, invalid, risky)


async def _postpone(database: Any, campaign_id: int, o: CampaignObserved, now: dt.datetime) -> None:
    """Open jobs due while their recipient's window is closed (or before the start) move to its next
    opening; checked on every scan, so a job is never claimed more than a scan after its window shut."""
    assert o.spec is not None
    everyone = not waits.restricts_hours(o.spec.schedule)
    zones = (
        [None]
        if everyone
        else [r["zone"] for r in await database.fetch(db.sql("campaign_open_zones"), campaign_id)]
    )
    moved = 0
    for zone, due in postponements(o.spec.schedule, now, zones):
        result = await database.execute(db.sql("postpone_jobs"), campaign_id, zone, due, everyone)
        moved += int(result.split()[-1])
    if moved:
        log.info("Postponed send jobs to their schedule: campaign=%s/%s jobs=%d", *o.key, moved)


async def apply_lifecycle(
    rt: Runtime, o: CampaignObserved, loaded: Loaded, counts: dict[str, Any], life: Lifecycle
) -> None:
    namespace, name = o.key
    if life.completed_now:
        database = await rt.database()
        assert database is not None
        await db.set_campaign_state(database, loaded.campaign_id, "completed")
        log.info("Completed campaign: campaign=%s/%s sent=%d", namespace, name, counts["sent"])
    previous_phase = (o.body.get("status") or {}).get("phase")
    if counts_final_due(previous_phase, life.phase, counts):
        database = await rt.database()
        assert database is not None
        if await db.store_final_counts(database, loaded.campaign_id, counts):
            log.info(
                "Stored final counts: campaign=%s/%s phase=%s sent=%d",
                namespace,
                name,
                life.phase,
                counts["sent"],
            )
    _notify(rt, o, life.alerts)
    await _write_status(rt, o, life.status_patch)


def _notify(rt: Runtime, o: CampaignObserved, alerts: list[tuple[str, str]]) -> None:
    if o.spec is None:
        return
    for key, text in alerts:
        rt.alerts.notify(o.key[0], o.spec.pool_ref.name, o.routes, key, text)


async def _write_status(rt: Runtime, o: CampaignObserved, patch: dict[str, Any] | None) -> None:
    if patch is not None:
        await rt.kube.patch_status("campaigns", o.key[0], o.key[1], patch)
