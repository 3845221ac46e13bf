"""A Campaign's verification writes: the run and its addresses, the checker Job, and at materialisation
the skipping of what the check found. Called by the campaign controller's apply step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kubernetes.client.exceptions import ApiException
from pot_common.api.campaign import CampaignSpec
from pot_deliverability.emailcheck.job import SWEEP_RUN_ADDRESSES, parse_duration, sweep_arguments

from pot_operator import db
from pot_operator.verification.observe import batch_api
from pot_operator.verification.plan import VerificationObserved, VerificationStep, build_checker_job

if TYPE_CHECKING:
    from pot_operator.runtime import Runtime

log = logging.getLogger(__name__)


def first_addresses(rows: Iterable[tuple[str, Any]]) -> list[tuple[int, str]]:
    """(line, address) of each address's first row, case-insensitively; lines count from 1 (pure)."""
    seen: set[str] = set()
    found = []
    for line, (address, _) in enumerate(rows, 1):
        if address.lower() not in seen:
            seen.add(address.lower())
            found.append((line, address))
    return found


async def create_run(
    database: Any,
    tenant: str,
    owner: str,
    spec: CampaignSpec,
    rows: list[tuple[str, dict[str, str]]] | None,
) -> int:
    """The run and its addresses (the CSV's rows, or the imported list's), in one transaction."""
    v = spec.verification
    async with database.acquire() as conn, conn.transaction():
        run_id = int(
            await conn.fetchval(
                db.sql("create_verification_run"), tenant, owner, v.mode, parse_duration(v.max_age)
            )
        )
        if rows is not None:
            await conn.copy_records_to_table(
                "verification_run_addresses",
                records=[(run_id, line, address) for line, address in first_addresses(rows)],
                columns=["run_id", "line", "address"],
            )
        elif spec.recipients.import_name is not None:
            await conn.execute(
                db.sql("stage_verification_import"), run_id, tenant, spec.recipients.import_name
            )
        await conn.execute(
            "UPDATE verification_runs SET total = (SELECT count(*) FROM verification_run_addresses"
            " WHERE run_id = $1) WHERE id = $1",
            run_id,
        )
    await sweep_run_addresses(database)
    return run_id


async def sweep_run_addresses(database: Any) -> int:
    """Delete the address lists nobody can need any more, of every tenant (the runs of a potctl that
    died, of deleted Campaigns, of superseded generations): after each new run, and from the retention
    sweeper. Returns how many runs' lists went."""
    swept = int(await database.fetchval(SWEEP_RUN_ADDRESSES, *sweep_arguments(None)))
    if swept:
        log.info("Swept verification address lists: runs=%d", swept)
    return swept


async def apply_verification(
    rt: Runtime,
    key: tuple[str, str],
    body: Any,
    spec: CampaignSpec,
    observed: VerificationObserved,
    step: VerificationStep,
    rows: list[tuple[str, dict[str, str]]] | None,
) -> None:
    """Make the run (when there is none) and its Job (when it is missing)."""
    namespace, name = key
    database = await rt.database()
    assert database is not None  # observed connected
    run_id = observed.run.id if observed.run is not None else None
    if step.create_run:
        run_id = await create_run(database, namespace, observed.owner, spec, rows)
        log.info("Created verification run: campaign=%s/%s run=%d", namespace, name, run_id)
    if step.create_job and run_id is not None:
        uid = str((body.get("metadata") or {}).get("uid") or "")
        job = build_checker_job(namespace, name, uid, run_id, spec.verification, rt.settings)
        try:
            await asyncio.to_thread(batch_api(rt).create_namespaced_job, namespace, job)
        except ApiException as e:
            if e.status != 409:  # made by an earlier scan that did not see it yet
                raise
        log.info("Created checker job: campaign=%s/%s job=%s", namespace, name, job["metadata"]["name"])


async def materialise_verified(
    database: Any,
    campaign_id: int,
    tenant: str,
    recipients: Iterable[tuple[str, dict[str, str]]] | None,
    import_name: str | None,
    skip_risky: bool,
    run_id: int,
) -> tuple[int, int, int, int]:
    """db.materialise_send_jobs with the checked addresses left out first: (inserted, suppressed,
    invalid, risky skipped), in one transaction that also deletes the run's addresses (its verdicts are
    on the run, the results stay for reuse)."""
    async with database.acquire() as conn, conn.transaction():
        suppressed = await db.stage_recipients(conn, campaign_id, tenant, recipients, import_name)
        skipped = await conn.fetchrow(db.sql("skip_unverified"), tenant, skip_risky, campaign_id)
        inserted = int(await conn.fetchval(db.sql("materialise_send_jobs"), campaign_id, tenant))
        await conn.execute("DELETE FROM verification_run_addresses WHERE run_id = $1", run_id)
        return inserted, suppressed, int(skipped["invalid"]), int(skipped["risky"])
