"""The pool's ingester Deployment: one `pot-ingester` process reading the inboxes of the pool's mailboxes
that have one (spec.imap). Planned purely here and written by pot_operator.pool.apply.

It runs while at least one of the pool's mailboxes has an inbox to read — not only while the workers
send: bounces, complaints and replies arrive for days after a campaign. It is created only then, and
scaled to zero (never deleted; the pool owns it) when no inbox is left. A same-named Deployment the
operator did not make is left alone, as the worker's is.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pot_common.api.pool import MailboxPoolSpec

from pot_operator.manifests import (
    PoolRef,
    allowed_image,
    build_ingester_deployment,
    deployment_drift,
    ingester_deployment_name,
    owned_by,
)

if TYPE_CHECKING:
    from pot_operator.config import Settings
    from pot_operator.pool.mailboxes import Planned
    from pot_operator.runtime import Runtime

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class IngesterPlan:
    """The Deployment the pool should have (its replicas say whether any inbox is read)."""

    owner: PoolRef
    desired: dict[str, Any]

    @property
    def replicas(self) -> int:
        return int(self.desired["spec"]["replicas"])


@dataclasses.dataclass(frozen=True)
class IngesterWrite:
    create: dict[str, Any] | None = None
    patch: dict[str, Any] | None = None
    not_ours: bool = False


def plan_ingester(
    owner: PoolRef, spec: MailboxPoolSpec, planned: Sequence[Planned], settings: Settings
) -> IngesterPlan:
    """One replica while any planned mailbox has an inbox (its row names an IMAP host), else none. The
    image is the workers' (the admin's choice, as for them)."""
    image, _ = allowed_image(spec.workers.image, settings)
    reading = any(p.plan.row.imap_host for p in planned)
    return IngesterPlan(owner, build_ingester_deployment(owner, 1 if reading else 0, image, settings))


def ingester_write(actual: Mapping[str, Any] | None, plan: IngesterPlan) -> IngesterWrite:
    """What to write given the Deployment as it is (None: absent)."""
    if actual is None:
        return IngesterWrite(create=plan.desired) if plan.replicas > 0 else IngesterWrite()
    if not owned_by(actual, plan.owner):
        return IngesterWrite(not_ours=True)
    return IngesterWrite(patch=deployment_drift(dict(actual), plan.desired))


async def apply_ingester(rt: Runtime, plan: IngesterPlan) -> None:
    namespace, name = plan.owner.namespace, ingester_deployment_name(plan.owner.name)
    write = ingester_write(await rt.kube.read_deployment(namespace, name), plan)
    if write.create is not None:
        await rt.kube.create_deployment(write.create)
        log.info("Created ingester Deployment: pool=%s/%s", namespace, plan.owner.name)
    elif write.patch is not None:
        await rt.kube.patch_deployment(namespace, name, write.patch)
        log.info(
            "Updated ingester Deployment: pool=%s/%s replicas=%d", namespace, plan.owner.name, plan.replicas
        )
    elif write.not_ours:
        log.warning(
            "Left a Deployment alone that pot-operator did not make: deployment=%s/%s pool=%s",
            namespace,
            name,
            plan.owner.name,
        )
