"""A Campaign's verification as it stands: its run in Postgres and the run's Job in the apiserver.

Called by the campaign controller's observe step while the recipients are still to be loaded.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import kubernetes
from kubernetes.client.exceptions import ApiException
from pot_deliverability.emailcheck.job import job_name, job_state

from pot_operator import db
from pot_operator.verification.plan import Run, VerificationObserved, owner_key

if TYPE_CHECKING:
    from pot_operator.runtime import Runtime


def batch_api(rt: Runtime) -> Any:
    return kubernetes.client.BatchV1Api(rt.kube.client)


async def read_job(rt: Runtime, namespace: str, name: str) -> dict[str, Any] | None:
    """The Job, or None when it does not exist."""
    api = batch_api(rt)
    try:
        found = await asyncio.to_thread(api.read_namespaced_job, name, namespace)
    except ApiException as e:
        if e.status == 404:
            return None
        raise
    job: dict[str, Any] = rt.kube.client.sanitize_for_serialization(found)  # type: ignore[no-untyped-call]
    return job


async def observe_verification(
    rt: Runtime, database: Any, key: tuple[str, str], body: Any
) -> VerificationObserved:
    namespace, name = key
    meta = body.get("metadata") or {}
    owner = owner_key(name, str(meta.get("uid") or ""), meta.get("generation"))
    row = await database.fetchrow(db.sql("verification_run"), namespace, owner)
    if row is None:
        return VerificationObserved(owner, None)
    run = Run(
        id=int(row["id"]),
        mode=str(row["mode"]),
        total=int(row["total"]),
        reused=int(row["reused"]),
        checked=int(row["checked"]),
        state=str(row["state"]),
        notice=str(row["notice"] or ""),
        finished_at=row["finished_at"],
        valid=int(row["valid"]),
        invalid=int(row["invalid"]),
        risky=int(row["risky"]),
        unknown=int(row["unknown"]),
        used_mode=row["used_mode"],
        failure=str(row["failure"] or ""),
    )
    job = job_name(run.id, name)
    if run.state == "failed":  # a new run is made: its Job is not asked about
        return VerificationObserved(owner, run, job)
    if run.state == "done":
        return VerificationObserved(owner, run, job, "succeeded")
    state, why = job_state(await read_job(rt, namespace, job))
    return VerificationObserved(owner, run, job, state, why)
