"""The MailboxPool's guards of the tenant boundary, pure: which worker image and which Deployment it gets,
where its alert secrets are read, and whether Vault answers.

Called by the pool controller's plan (pot_operator.pool.plan). Each guard is a condition; a refusal
(an image the admin did not allow, a Deployment the operator did not make, an alert path leaving the
namespace's folder) is also a Warning Event when it first appears.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pot_alerts.routing import AlertSettings, channels
from pot_common.api.pool import MailboxPoolSpec

from pot_operator.conditions import get_condition
from pot_operator.manifests import (
    PoolRef,
    WorkerSettings,
    allowed_image,
    build_worker_deployment,
    deployment_drift,
    owned_by,
)

if TYPE_CHECKING:
    from pot_operator.pool.plan import PoolObserved


@dataclasses.dataclass(frozen=True)
class DeploymentChange:
    """The worker Deployment to create (`create`) or the patch that removes drift; replicas for the log.

    `condition` is WorkersReady's (status, reason, message): a refused image or a same-named
    Deployment that is not ours (left alone: neither created nor patched).
    """

    name: str
    replicas: int
    create: dict[str, Any] | None = None
    patch: dict[str, Any] | None = None
    condition: tuple[bool, str, str] = (True, "Deployed", "")


def worker_deployment(o: PoolObserved, spec: MailboxPoolSpec, replicas: int) -> DeploymentChange:
    """The worker Deployment: the admin's image unless the pool's is allowed, and only ever our own."""
    namespace, name = o.key
    owner = PoolRef(namespace=namespace, name=name, uid=o.body.get("metadata", {}).get("uid") or "")
    image, refused = allowed_image(spec.workers.image, o.settings)
    desired = build_worker_deployment(owner, WorkerSettings(replicas=replicas, image=image), o.settings)
    deployment_name = desired["metadata"]["name"]
    change = DeploymentChange(deployment_name, replicas, condition=(True, "Deployed", f"Workers run {image}"))
    if refused is not None:
        change = dataclasses.replace(change, condition=(False, "WorkerImageNotAllowed", refused))
    if o.deployment is None:
        return dataclasses.replace(change, create=desired)
    if not owned_by(o.deployment, owner):
        return DeploymentChange(
            deployment_name,
            replicas,
            condition=(
                False,
                "DeploymentNotOwned",
                f"Deployment {deployment_name} exists but was not made by pot-operator for this MailboxPool "
                "(label app.kubernetes.io/managed-by=pot-operator and an ownerReference to the pool): "
                "it is left alone; delete it and the operator creates the pool's own",
            ),
        )
    return dataclasses.replace(change, patch=deployment_drift(dict(o.deployment), desired))


# Pool conditions whose False verdicts are refusals of the spec by the cluster's rules: announced
# with an Event when they first appear.
REFUSAL_REASONS = ("WorkerImageNotAllowed", "DeploymentNotOwned", "VaultPathForbidden")


def guard_conditions(
    o: PoolObserved, spec: MailboxPoolSpec, deployment: DeploymentChange
) -> dict[str, tuple[bool, str, str]]:
    """WorkersReady (image, ownership), AlertsReady (route paths) and, during a Vault outage or just
    after one, VaultAvailable."""
    verdicts = {"WorkersReady": deployment.condition, "AlertsReady": alerts_verdict(o, spec)}
    if o.vault_outage is not None:
        verdicts["VaultAvailable"] = (
            False,
            "VaultUnavailable",
            f"{o.vault_outage}; mailboxes keep their last credential verdict and go on sending, "
            "reads are retried with backoff",
        )
    elif get_condition((o.body.get("status") or {}).get("conditions") or [], "VaultAvailable") is not None:
        verdicts["VaultAvailable"] = (True, "VaultAnswered", "Vault answers again")
    return verdicts


def alerts_verdict(o: PoolObserved, spec: MailboxPoolSpec) -> tuple[bool, str, str]:
    """Where the pool's alert secrets are read, or why a route's path is refused (outside the folder)."""
    namespace = o.key[0]
    found = channels(
        spec.alerts, AlertSettings(vault_tenant_prefix=o.settings.vault_tenant_prefix), namespace
    )
    if not found:
        return True, "NoRoutes", "No alert routes configured"
    refused = [f"{c.name}: {c.refused}" for c in found if c.refused]
    if refused:
        return False, "VaultPathForbidden", "; ".join(refused)
    where = ", ".join(f"{c.name} from {o.settings.vault_mount}/{c.vault_path}" for c in found)
    return True, "PathsResolved", f"Alert secrets are read inside this namespace's folder: {where}"


def refusal_events(
    status: Mapping[str, Any], verdicts: Mapping[str, tuple[bool, str, str]]
) -> list[tuple[str, str, str]]:
    """A Warning Event per refusal that is new since the status the pool has."""
    events = []
    for type_, (ok, reason, message) in verdicts.items():
        was = get_condition(status.get("conditions") or [], type_)
        if not ok and reason in REFUSAL_REASONS and (was is None or was.get("reason") != reason):
            events.append(("Warning", reason, message))
    return events
