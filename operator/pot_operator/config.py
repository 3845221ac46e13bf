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
    # POT_WORKER_IMAGE: worker image when a pool names none. One image holds both programs (the
    # chart passes its own image here); the worker Deployment runs it with args [pot-worker].
    worker_image: str = "ghcr.io/pot-dev/pot:0.1.0"
    # POT_WORKER_SECRET: the Secret (in each pool's namespace) holding POT_DATABASE_URL and
    # POT_REDIS_URL for worker pods; `pot-env`, the chart's config.secretName default.
    worker_secret: str = "pot-env"  # noqa: S105 - a Secret name, not a secret
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
    # POT_NAMESPACE: comma-separated namespaces to serve; empty serves the whole cluster.
    namespaces: tuple[str, ...] = ()
    # POT_DNS_RESOLVER: host:port of the resolver for DNS preflight; empty uses the system's.
    dns_resolver: str = ""
    # POT_DNSBL_ZONES: blocklist zones for preflight and mailbox rechecks, e.g. `bl.test,domain:dbl.test`.
    dnsbl_zones: str = ""
    # POT_PREFLIGHT_CACHE: seconds a domain's preflight result is reused (12,000 mailboxes share few domains).
    preflight_cache: float = 3600.0
    # POT_DOMAIN_RECHECK: seconds between periodic DNS/blocklist rechecks of the mailboxes' domains.
    domain_recheck: float = 3600.0
    # POT_TELEGRAM_API_URL: Bot API base for alerts; empty uses api.telegram.org.
    telegram_api_url: str = ""
    # POT_SLACK_WEBHOOK_URL: when set, the scheme and host of every Slack webhook read from Vault are
    # replaced by this base (a proxy or a local fake); the path from Vault is kept.
    slack_webhook_url: str = dataclasses.field(default="", repr=False)
    # POT_ALERT_DEDUP: seconds during which the same alert (route, pool, kind) is not repeated.
    alert_dedup: float = 3600.0

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
            namespaces=split_namespaces(e.get("POT_NAMESPACE", "")),
            dns_resolver=e.get("POT_DNS_RESOLVER", ""),
            dnsbl_zones=e.get("POT_DNSBL_ZONES", ""),
            preflight_cache=float(e.get("POT_PREFLIGHT_CACHE", "3600") or 3600),
            domain_recheck=float(e.get("POT_DOMAIN_RECHECK", "3600") or 3600),
            telegram_api_url=e.get("POT_TELEGRAM_API_URL", ""),
            slack_webhook_url=e.get("POT_SLACK_WEBHOOK_URL", ""),
            alert_dedup=float(e.get("POT_ALERT_DEDUP", "3600") or 3600),
        )


def split_namespaces(value: str) -> tuple[str, ...]:
    """`a, b,,c` -> ("a", "b", "c"): the chart joins the served namespaces with commas."""
    return tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
