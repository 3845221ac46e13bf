"""Pure builders for the Kubernetes objects the operator owns (each pool's worker and ingester
Deployments) and the rules for which existing Deployment and which image it accepts; no I/O. Used by
the pool controller's plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pot_common.annotations import POOL_LABEL

from pot_operator.config import Settings

WORKER_APP = "pot-worker"
INGESTER_APP = "pot-ingester"
MANAGED_BY = "pot-operator"


@dataclasses.dataclass(frozen=True)
class PoolRef:
    """The owning pool, as the owner reference needs it."""

    namespace: str
    name: str
    uid: str
    api_version: str = "pot.dev/v1alpha1"
    kind: str = "MailboxPool"


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    """The pool's worker settings after defaults."""

    replicas: int
    image: str | None = None
    metrics_port: int = 9102


def worker_deployment_name(pool_name: str) -> str:
    return f"pot-worker-{pool_name}"


def ingester_deployment_name(pool_name: str) -> str:
    return f"pot-ingester-{pool_name}"


def worker_labels(pool_name: str, app: str = WORKER_APP) -> dict[str, str]:
    """The labels of docs/contracts.md; the local runner and the chart select on them."""
    return {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        POOL_LABEL: pool_name,
    }


def worker_vault_role(settings: Settings, namespace: str) -> str:
    """The Vault role the pool's workers log in with (kubernetes auth), "" for token auth.

    Never the operator's own role: the workers' ServiceAccount could not log in with it, and its
    policy reads every tenant's folder. Without POT_WORKER_VAULT_ROLE the workers use token auth.
    """
    if not settings.vault_addr:
        return ""
    return settings.worker_vault_role.replace("{namespace}", namespace)


def _secret_env(name: str, secret: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": name}}}


def _pool_env(
    pool: PoolRef, settings: Settings, metrics_port: int, *, redis: bool, transcripts: bool = False
) -> list[dict[str, Any]]:
    """What a pool's programs read: the pool, the database (and Redis) by Secret reference, Vault, and
    for the worker the transcript store."""
    env: list[dict[str, Any]] = [
        {"name": "POT_POOL", "value": f"{pool.namespace}/{pool.name}"},
        _secret_env("POT_DATABASE_URL", settings.worker_secret),
    ]
    if redis:
        env.append(_secret_env("POT_REDIS_URL", settings.worker_secret))
    env.append({"name": "POT_METRICS_PORT", "value": str(metrics_port)})
    # They refuse AUTH in cleartext too, unless the cluster admin allowed it here.
    env.append(
        {"name": "POT_ALLOW_PLAINTEXT_AUTH", "value": "true" if settings.allow_plaintext_auth else "false"}
    )
    if settings.vault_addr:
        env.append({"name": "POT_VAULT_ADDR", "value": settings.vault_addr})
        env.append({"name": "POT_VAULT_MOUNT", "value": settings.vault_mount})
        env.append({"name": "POT_VAULT_TENANT_PREFIX", "value": settings.vault_tenant_prefix})
        if role := worker_vault_role(settings, pool.namespace):
            env.append({"name": "POT_VAULT_ROLE", "value": role})
            env.append({"name": "POT_VAULT_K8S_AUTH_PATH", "value": settings.vault_k8s_auth_path})
        else:
            # Token auth is for the local stack only; the token still travels by Secret reference.
            env.append(_secret_env("POT_VAULT_TOKEN", settings.worker_secret))
    if transcripts and settings.worker_transcripts_endpoint and settings.vault_addr:
        env += _transcripts_env(settings)
    return env


def _transcripts_env(settings: Settings) -> list[dict[str, Any]]:
    """Where the workers write SMTP transcripts. The store's keys are per tenant, in the namespace's Vault
    folder, never in this env; a namespace without them still sends (pot_worker.archive)."""
    return [
        {"name": "POT_TRANSCRIPTS_ENDPOINT", "value": settings.worker_transcripts_endpoint},
        {"name": "POT_TRANSCRIPTS_BUCKET", "value": settings.worker_transcripts_bucket},
        {"name": "POT_TRANSCRIPTS_REGION", "value": settings.worker_transcripts_region},
        {"name": "POT_TRANSCRIPTS_VAULT_PATH", "value": settings.worker_transcripts_vault_path},
    ]


@dataclasses.dataclass(frozen=True)
class _Program:
    """What differs between a pool's worker and its ingester Deployment."""

    app: str
    name: str
    container: str
    replicas: int
    image: str
    metrics_port: int
    strategy: dict[str, Any]
    grace_seconds: int
    resources: dict[str, Any]
    redis: bool
    transcripts: bool = False  # only the worker records SMTP; the ingester archives nothing yet


def _pool_deployment(pool: PoolRef, program: _Program, settings: Settings) -> dict[str, Any]:
    """A Deployment of one of the pool's programs: owned by the pool, restricted pod security, secrets by
    Secret reference (database and Redis URLs carry passwords), never inline."""
    labels = worker_labels(pool.name, program.app)
    selector = {"app.kubernetes.io/name": program.app, POOL_LABEL: pool.name}
    env = _pool_env(
        pool, settings, program.metrics_port, redis=program.redis, transcripts=program.transcripts
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": program.name,
            "namespace": pool.namespace,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": pool.api_version,
                    "kind": pool.kind,
                    "name": pool.name,
                    "uid": pool.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": max(0, program.replicas),
            "selector": {"matchLabels": selector},
            "strategy": program.strategy,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": settings.worker_service_account,
                    "automountServiceAccountToken": bool(worker_vault_role(settings, pool.namespace)),
                    "terminationGracePeriodSeconds": program.grace_seconds,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "runAsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": program.container,
                            "image": program.image,
                            "args": [program.app],
                            "env": env,
                            "ports": [{"name": "metrics", "containerPort": program.metrics_port}],
                            "resources": program.resources,
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                                "capabilities": {"drop": ["ALL"]},
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                        }
                    ],
                },
            },
        },
    }


def build_worker_deployment(pool: PoolRef, worker: WorkerSettings, settings: Settings) -> dict[str, Any]:
    """The worker Deployment of one pool."""
    program = _Program(
        app=WORKER_APP,
        name=worker_deployment_name(pool.name),
        container="worker",
        replicas=worker.replicas,
        image=worker.image or settings.worker_image,
        metrics_port=worker.metrics_port,
        # Workers drain in-flight sends on SIGTERM; never run two generations at full size.
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        grace_seconds=60,
        resources={"requests": {"cpu": "50m", "memory": "96Mi"}, "limits": {"memory": "256Mi"}},
        redis=True,
        transcripts=True,
    )
    return _pool_deployment(pool, program, settings)


def build_ingester_deployment(pool: PoolRef, replicas: int, image: str, settings: Settings) -> dict[str, Any]:
    """The ingester Deployment of one pool: one process reads every inbox of the pool (no Redis: it
    sends nothing). Recreate, so two generations never read the same inboxes at once; its checkpoints
    make a restart lose nothing either way."""
    program = _Program(
        app=INGESTER_APP,
        name=ingester_deployment_name(pool.name),
        container="ingester",
        replicas=replicas,
        image=image,
        metrics_port=9103,
        strategy={"type": "Recreate"},
        grace_seconds=30,
        resources={"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        redis=False,
    )
    return _pool_deployment(pool, program, settings)


def owned_by(deployment: Mapping[str, Any], pool: PoolRef) -> bool:
    """Whether the operator made this Deployment for this pool: our managed-by label AND an owner
    reference to the pool's uid. Anything else with the same name is someone else's and is never
    patched: adopting it would hand the pool's Secrets to whatever image it runs."""
    meta = deployment.get("metadata") or {}
    managed = (meta.get("labels") or {}).get("app.kubernetes.io/managed-by") == MANAGED_BY
    owners = meta.get("ownerReferences") or []
    return managed and any(o.get("uid") == pool.uid and o.get("kind") == pool.kind for o in owners)


def allowed_image(requested: str | None, settings: Settings) -> tuple[str, str | None]:
    """The image the pool's workers run and, when the pool asked for another, why it was refused.

    The image receives the worker Secret (database, Redis, maybe a Vault token), so it is the
    cluster admin's choice: POT_WORKER_IMAGE or one of POT_WORKER_IMAGE_ALLOWLIST, exactly.
    """
    if (
        requested is None
        or requested == settings.worker_image
        or requested in settings.worker_image_allowlist
    ):
        return requested or settings.worker_image, None
    return settings.worker_image, (
        f"spec.workers.image {requested[:200]!r} is not allowed by the cluster admin "
        f"(POT_WORKER_IMAGE_ALLOWLIST); the workers run {settings.worker_image}"
    )


def deployment_drift(actual: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
    """The patch that brings an existing Deployment (one we own: `owned_by`) to `desired`, or None when
    nothing we set differs.

    Only the fields we set are compared (replicas, labels, the pod template we build), so defaults
    the API server fills in never look like drift.
    """
    patch: dict[str, Any] = {}
    a_meta, d_meta = actual.get("metadata", {}), desired["metadata"]
    labels = {k: v for k, v in d_meta["labels"].items() if (a_meta.get("labels") or {}).get(k) != v}
    if labels:
        patch.setdefault("metadata", {})["labels"] = labels
    a_spec, d_spec = actual.get("spec", {}), desired["spec"]
    if a_spec.get("replicas") != d_spec["replicas"]:
        patch.setdefault("spec", {})["replicas"] = d_spec["replicas"]
    a_container = _first_container(actual)
    d_container = _first_container(desired)
    if any(a_container.get(k) != d_container.get(k) for k in ("image", "env", "args", "securityContext")):
        patch.setdefault("spec", {})["template"] = d_spec["template"]
    return patch or None


def _first_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}]
    first: dict[str, Any] = containers[0]
    return first
