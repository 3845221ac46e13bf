"""Pure builders for the Kubernetes objects the operator owns (the worker Deployment); no I/O."""

from __future__ import annotations

import dataclasses
from typing import Any

from pot_operator.config import Settings

WORKER_APP = "pot-worker"
MANAGED_BY = "pot-operator"
POOL_LABEL = "pot.dev/pool"


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


def worker_labels(pool_name: str) -> dict[str, str]:
    """The labels of docs/contracts.md; the local runner and the chart select on them."""
    return {
        "app.kubernetes.io/name": WORKER_APP,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        POOL_LABEL: pool_name,
    }


def _secret_env(name: str, secret: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": name}}}


def build_worker_deployment(pool: PoolRef, worker: WorkerSettings, settings: Settings) -> dict[str, Any]:
    """The worker Deployment of one pool: owned by the pool, restricted pod security, env from a Secret.

    Database and Redis URLs carry passwords, so they come from a Secret reference, never inline.
    """
    labels = worker_labels(pool.name)
    selector = {"app.kubernetes.io/name": WORKER_APP, POOL_LABEL: pool.name}
    env: list[dict[str, Any]] = [
        {"name": "POT_POOL", "value": f"{pool.namespace}/{pool.name}"},
        _secret_env("POT_DATABASE_URL", settings.worker_secret),
        _secret_env("POT_REDIS_URL", settings.worker_secret),
        {"name": "POT_METRICS_PORT", "value": str(worker.metrics_port)},
    ]
    if settings.vault_addr:
        env.append({"name": "POT_VAULT_ADDR", "value": settings.vault_addr})
        env.append({"name": "POT_VAULT_MOUNT", "value": settings.vault_mount})
        if settings.vault_role:
            env.append({"name": "POT_VAULT_ROLE", "value": settings.vault_role})
        else:
            # Token auth is for the local stack only; the token still travels by Secret reference.
            env.append(_secret_env("POT_VAULT_TOKEN", settings.worker_secret))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": worker_deployment_name(pool.name),
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
            "replicas": max(0, worker.replicas),
            "selector": {"matchLabels": selector},
            # Workers drain in-flight sends on SIGTERM; never run two generations at full size.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": settings.worker_service_account,
                    "automountServiceAccountToken": bool(settings.vault_role),
                    "terminationGracePeriodSeconds": 60,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "runAsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "worker",
                            "image": worker.image or settings.worker_image,
                            "args": ["pot-worker"],
                            "env": env,
                            "ports": [{"name": "metrics", "containerPort": worker.metrics_port}],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "96Mi"},
                                "limits": {"memory": "256Mi"},
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
                },
            },
        },
    }


def deployment_drift(actual: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
    """The patch that brings an existing Deployment to `desired`, or None when nothing we own differs.

    Only the fields we set are compared (replicas, labels, owner, the pod template we build), so
    defaults the API server fills in never look like drift.
    """
    patch: dict[str, Any] = {}
    a_meta, d_meta = actual.get("metadata", {}), desired["metadata"]
    labels = {k: v for k, v in d_meta["labels"].items() if (a_meta.get("labels") or {}).get(k) != v}
    if labels:
        patch.setdefault("metadata", {})["labels"] = labels
    owner_uids = {o.get("uid") for o in a_meta.get("ownerReferences") or []}
    if d_meta["ownerReferences"][0]["uid"] not in owner_uids:
        patch.setdefault("metadata", {})["ownerReferences"] = d_meta["ownerReferences"]
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
