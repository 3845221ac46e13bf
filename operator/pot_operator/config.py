"""The operator's typed configuration, read once from POT_* environment variables by the CLI and handlers."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every knob of `pot-operator`; each field names the environment variable it comes from."""

    # POT_DATABASE_URL: asyncpg DSN; the operator projects limits and materialises jobs there.
    database_url: str = ""
    # POT_VAULT_ADDR: Vault/OpenBao address; empty disables Vault credential references.
    vault_addr: str = ""
    # POT_VAULT_TOKEN: token auth (local stack). Never logged.
    vault_token: str = dataclasses.field(default="", repr=False)
    # POT_VAULT_ROLE: kubernetes auth role (in a cluster, when no token is set).
    vault_role: str = ""
    # POT_VAULT_MOUNT: the KV v2 mount.
    vault_mount: str = "secret"
    # POT_VAULT_K8S_AUTH_PATH: where the kubernetes auth method is mounted.
    vault_k8s_auth_path: str = "kubernetes"
    # POT_METRICS_PORT: Prometheus metrics port; 0 disables the endpoint.
    metrics_port: int = 0
    # POT_WORKER_IMAGE: default worker image when a pool names none.
    worker_image: str = "ghcr.io/pot-dev/pot-worker:0.1.0"
    # POT_WORKER_SECRET: the Secret holding POT_DATABASE_URL and POT_REDIS_URL for worker pods.
    worker_secret: str = "pot-worker-env"  # noqa: S105 - a Secret name, not a secret
    # POT_WORKER_SERVICE_ACCOUNT: the worker pods' service account (for Vault kubernetes auth).
    worker_service_account: str = "pot-worker"
    # POT_RECONCILE_INTERVAL: seconds between pool scans (health, cooldown, limits, scaling).
    reconcile_interval: float = 15.0
    # POT_CAMPAIGN_INTERVAL: seconds between campaign count refreshes.
    campaign_interval: float = 10.0
    # POT_CREDENTIALS_RECHECK: seconds before a verified credential is checked again.
    credentials_recheck: float = 600.0
    # POT_WORKER_LIMIT: concurrent object workers in kopf (bounds memory and API pressure at 12,000 objects).
    worker_limit: int = 200
    # POT_NAMESPACE: watch one namespace; empty watches all namespaces.
    namespace: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        return cls(
            database_url=e.get("POT_DATABASE_URL", ""),
            vault_addr=e.get("POT_VAULT_ADDR", ""),
            vault_token=e.get("POT_VAULT_TOKEN", ""),
            vault_role=e.get("POT_VAULT_ROLE", ""),
            vault_mount=e.get("POT_VAULT_MOUNT", "secret"),
            vault_k8s_auth_path=e.get("POT_VAULT_K8S_AUTH_PATH", "kubernetes"),
            metrics_port=int(e.get("POT_METRICS_PORT", "0") or 0),
            worker_image=e.get("POT_WORKER_IMAGE", cls.worker_image),
            worker_secret=e.get("POT_WORKER_SECRET", cls.worker_secret),
            worker_service_account=e.get("POT_WORKER_SERVICE_ACCOUNT", cls.worker_service_account),
            reconcile_interval=float(e.get("POT_RECONCILE_INTERVAL", "15") or 15),
            campaign_interval=float(e.get("POT_CAMPAIGN_INTERVAL", "10") or 10),
            credentials_recheck=float(e.get("POT_CREDENTIALS_RECHECK", "600") or 600),
            worker_limit=int(e.get("POT_WORKER_LIMIT", "200") or 200),
            namespace=e.get("POT_NAMESPACE", ""),
        )
