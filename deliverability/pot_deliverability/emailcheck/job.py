"""The checker as a Kubernetes Job: its manifest, the run's duration syntax and when a run's address list
may go (the sweep's SQL); pure, no I/O.

Built by the operator (a Campaign's spec.verification) and by `potctl check-emails --in-cluster`, so
both run the same Job: the workers' image running `potctl check-emails --job RUN`, which reads the run's
addresses from Postgres and writes the results there (potctl.email_job).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

CHECKER_APP = "pot-checker"  # app.kubernetes.io/name of every checker Job (the local stack runs these)
RUN_LABEL = "pot.dev/verification-run"
DURATION = re.compile(r"^(?:(\d{1,6})h)?(?:(\d{1,6})m)?(?:(\d{1,6})s)?$")
# A Job gets this long before Kubernetes stops it: a list of 1,000,000 addresses at the default politeness
# takes hours, never days.
DEADLINE_SECONDS = 2 * 24 * 3600
KEEP_FINISHED_SECONDS = 24 * 3600  # the finished Job (and its pod's log) stays a day for a person to read

# A run's address list is needed while its Job checks it and until its caller reads the results back;
# then it goes (the run keeps its counts, the results stay for reuse). The callers delete it themselves
# (potctl once it wrote the results or gave up, the operator with the send jobs); this sweep, run by
# both when they make a run, removes what a caller that died (kill -9) or a deleted Campaign left:
# the lists of failed runs, of runs done over KEEP_DONE ago (potctl reads its results at once, the
# operator needs none once the run is done), and of unfinished runs made over KEEP_UNFINISHED ago (no
# Job can still be checking them: a Job gets DEADLINE_SECONDS), which are marked failed. $1 is a tenant
# (potctl sweeps only its namespace's) or NULL (the operator, every tenant's); returns the runs swept.
KEEP_DONE = dt.timedelta(hours=1)
KEEP_UNFINISHED = dt.timedelta(seconds=DEADLINE_SECONDS) + dt.timedelta(days=1)
GIVEN_UP = "given up: no checker Job can still be working on it"
SWEEP_RUN_ADDRESSES = """
WITH abandoned AS (
    UPDATE verification_runs SET state = 'failed', failure = $4, finished_at = now()
    WHERE state IN ('pending', 'running') AND created_at < now() - $2::interval
      AND ($1::text IS NULL OR tenant = $1)
    RETURNING id
), stale AS (
    SELECT id FROM verification_runs
    WHERE ($1::text IS NULL OR tenant = $1)
      AND (state = 'failed' OR (state = 'done' AND finished_at < now() - $3::interval))
    UNION SELECT id FROM abandoned
), gone AS (
    DELETE FROM verification_run_addresses a USING stale WHERE a.run_id = stale.id RETURNING a.run_id
)
SELECT count(DISTINCT run_id) FROM gone
"""


def sweep_arguments(tenant: str | None) -> tuple[str | None, dt.timedelta, dt.timedelta, str]:
    """SWEEP_RUN_ADDRESSES's parameters for one tenant, or every tenant with None (pure)."""
    return tenant, KEEP_UNFINISHED, KEEP_DONE, GIVEN_UP


def parse_duration(text: str) -> dt.timedelta:
    """`720h`, `90m`, `1h30m`, `0s` as a timedelta; ValueError naming the text otherwise."""
    match = DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a duration such as 720h, 90m or 1h30m")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


def job_name(run_id: int, owner: str) -> str:
    """`pot-verify-<run>-<owner>`, cut to the 63 characters a Job's pod label allows."""
    base = re.sub(r"[^a-z0-9-]+", "-", owner.lower()).strip("-")
    return f"pot-verify-{run_id}-{base}"[:63].rstrip("-")


def checker_job(
    *,
    namespace: str,
    name: str,
    run_id: int,
    image: str,
    env: Sequence[Mapping[str, Any]],
    managed_by: str,
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Mapping[str, Any]] = (),
    owner: Mapping[str, Any] | None = None,
    service_account: str | None = None,
) -> dict[str, Any]:
    """The Job that checks run `run_id`; `env` must give it POT_DATABASE_URL (by Secret reference).

    Restricted pod security as the workers'; two retries (a run resumes: results already written are
    not checked again); no service account token, since it talks to Postgres and MX hosts only.
    """
    labels = {
        "app.kubernetes.io/name": CHECKER_APP,
        "app.kubernetes.io/managed-by": managed_by,
        RUN_LABEL: str(run_id),
    }
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "checker",
                "image": image,
                "args": ["potctl", "check-emails", "--job", str(run_id)],
                "env": [dict(e) for e in env],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"memory": "512Mi"},
                },
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            }
        ],
    }
    if service_account:
        pod["serviceAccountName"] = service_account
    if node_selector:
        pod["nodeSelector"] = dict(node_selector)
    if tolerations:
        pod["tolerations"] = [dict(t) for t in tolerations]
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if owner is not None:
        metadata["ownerReferences"] = [dict(owner)]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": DEADLINE_SECONDS,
            "ttlSecondsAfterFinished": KEEP_FINISHED_SECONDS,
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def job_state(job: Mapping[str, Any] | None) -> tuple[str, str]:
    """(missing | active | succeeded | failed, why) from a Job's status conditions and counts."""
    if job is None:
        return "missing", ""
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return "succeeded", ""
        if condition.get("type") == "Failed":
            why = condition.get("message") or condition.get("reason") or "the Job failed"
            return "failed", str(why)
    return "active", ""
