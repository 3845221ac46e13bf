"""What a Campaign's verification does next, and the checker Job the operator makes; pure, no I/O.

Called by the campaign controller's plan (the Verified condition, whether the scan stops before the
recipients are loaded) and by verification.apply (the Job's manifest).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pot_common.api.campaign import Verification
from pot_deliverability.emailcheck.job import checker_job, job_name

from pot_operator.conditions import Condition, rfc3339
from pot_operator.config import Settings

CONDITION = "Verified"
MANAGED_BY = "pot-operator"


@dataclasses.dataclass(frozen=True)
class Run:
    """A verification run as Postgres has it; the verdict counts only once it is done."""

    id: int
    mode: str
    total: int
    reused: int
    checked: int
    state: str  # pending, running, done, failed
    notice: str = ""
    finished_at: dt.datetime | None = None
    valid: int = 0
    invalid: int = 0
    risky: int = 0
    unknown: int = 0
    used_mode: str | None = None  # what auto became, from the results this run wrote
    failure: str = ""  # why it failed (state failed)


@dataclasses.dataclass(frozen=True)
class VerificationObserved:
    """The campaign's run for this generation (None before the first scan made one) and its Job."""

    owner: str
    run: Run | None
    job: str | None = None  # the Job's name
    job_state: str = "missing"  # missing, active, succeeded, failed
    job_why: str = ""


@dataclasses.dataclass(frozen=True)
class VerificationStep:
    """The scan's verification outcome: `done` lets the recipients load; otherwise the scan stops with
    `condition` (status, reason, message) and `status` (status.verification) after the creations."""

    done: bool
    condition: tuple[bool, str, str]
    status: dict[str, Any] | None
    create_run: bool = False
    create_job: bool = False


def owner_key(name: str, uid: str, generation: int | None) -> str:
    """The run's owner: one run per Campaign object and generation (a new spec checks again, reusing
    results younger than maxAge)."""
    return f"Campaign/{name}/{uid}/{generation}"


def without_verified(conditions: Sequence[Condition]) -> list[Condition]:
    """The conditions without Verified, for a Campaign whose spec.verification.mode is `off`: the
    condition is removed rather than kept as "not checked", so such a campaign shows what one that
    never had verification shows (pure)."""
    return [c for c in conditions if c.get("type") != CONDITION]


def verification_status(run: Run, job: str | None) -> dict[str, Any]:
    return {
        "job": job,
        "mode": run.used_mode or run.mode,
        "total": run.total,
        "checked": run.checked,
        "reused": run.reused,
        "valid": run.valid,
        "invalid": run.invalid,
        "risky": run.risky,
        "unknown": run.unknown,
        "notice": run.notice or None,
        "finishedAt": rfc3339(run.finished_at) if run.finished_at is not None else None,
    }


def summary(run: Run) -> str:
    """`5,000 addresses checked (1,000 reused), mode smtp: 4,800 valid, 120 invalid, 60 risky, 20 unknown`."""
    text = (
        f"{run.total:,} addresses checked ({run.reused:,} reused), mode {run.used_mode or run.mode}: "
        f"{run.valid:,} valid, {run.invalid:,} invalid, {run.risky:,} risky, {run.unknown:,} unknown"
    )
    return f"{text}; {run.notice}" if run.notice else text


def plan_verification(v: VerificationObserved) -> VerificationStep:
    """Make the run and its Job, wait for it (progress in the message), or let the recipients load."""
    run = v.run
    if run is None:
        return VerificationStep(
            False, (False, "Verifying", "Starting the checker Job"), None, create_run=True, create_job=True
        )
    if run.state == "failed":  # given up by the sweep (its list is gone): a new run checks again
        message = f"Starting the checker Job again: run {run.id} was {run.failure or 'given up'}"
        return VerificationStep(False, (False, "Verifying", message), None, create_run=True, create_job=True)
    status = verification_status(run, v.job)
    if run.state == "done":
        return VerificationStep(True, (True, CONDITION, summary(run)), status)
    if v.job_state == "failed":
        message = (
            f"Checker Job {v.job} failed: {v.job_why}; results written so far are kept: delete the Job "
            "to run it again"
        )
        return VerificationStep(False, (False, "VerificationFailed", message[:1000]), status)
    if v.job_state == "succeeded":
        message = f"Checker Job {v.job} ended without finishing run {run.id}; delete the Job to run it again"
        return VerificationStep(False, (False, "VerificationFailed", message), status)
    progress = f"{run.checked + run.reused:,}/{run.total:,} checked"
    if run.reused:
        progress += f" ({run.reused:,} reused)"
    waiting = v.job_state == "missing"
    message = f"Checker Job {v.job} {'being created' if waiting else 'running'}: {progress}"
    return VerificationStep(False, (False, "Verifying", message), status, create_job=waiting)


def build_checker_job(
    namespace: str,
    campaign: str,
    uid: str,
    run_id: int,
    spec: Verification,
    settings: Settings,
) -> dict[str, Any]:
    """The run's Job: the workers' image and database Secret, the spec's node selector and tolerations,
    owned by the Campaign (deleted with it)."""
    env: list[Mapping[str, Any]] = [
        {
            "name": "POT_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": settings.worker_secret, "key": "POT_DATABASE_URL"}},
        }
    ]
    tolerations = [t.model_dump(by_alias=True, exclude_none=True) for t in spec.job.tolerations]
    owner = {
        "apiVersion": "pot.dev/v1alpha1",
        "kind": "Campaign",
        "name": campaign,
        "uid": uid,
        "controller": True,
    }
    return checker_job(
        namespace=namespace,
        name=job_name(run_id, campaign),
        run_id=run_id,
        image=settings.worker_image,
        env=env,
        managed_by=MANAGED_BY,
        node_selector=spec.job.node_selector,
        tolerations=tolerations,
        owner=owner,
        service_account=settings.worker_service_account,
    )
