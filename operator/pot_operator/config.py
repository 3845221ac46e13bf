"""The operator's typed settings from POT_* variables; read by pot_operator.cli and the startup handler."""

from __future__ import annotations

from collections.abc import Mapping

import pydantic
from pot_common.config import load_settings
from pot_common.vault import DEFAULT_TENANT_PREFIX
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pot_operator.retention import MIN_RETENTION_DAYS


class Settings(BaseModel):
    """Every knob of `pot-operator`; the variable is POT_ + the field name in upper case.

    Unset or empty variables take the default written here, once.
    """

    model_config = ConfigDict(frozen=True)

    database_url: str = Field(
        "",
        description="POT_DATABASE_URL: asyncpg DSN; the operator projects limits and makes send jobs there.",
    )
    vault_addr: str = Field(
        "", description="POT_VAULT_ADDR: Vault/OpenBao address; empty disables Vault credential references."
    )
    vault_token: str = Field(
        "", repr=False, description="POT_VAULT_TOKEN: token auth (local stack). Never logged."
    )
    vault_role: str = Field(
        "", description="POT_VAULT_ROLE: kubernetes auth role (in a cluster, when no token is set)."
    )
    vault_mount: str = Field("secret", description="POT_VAULT_MOUNT: the KV v2 mount.")
    vault_k8s_auth_path: str = Field(
        "kubernetes", description="POT_VAULT_K8S_AUTH_PATH: where the kubernetes auth method is mounted."
    )
    vault_tenant_prefix: str = Field(
        DEFAULT_TENANT_PREFIX,
        pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$",
        description="POT_VAULT_TENANT_PREFIX: every Vault path an object names is read under "
        "<prefix>/<its namespace>/ in the mount; the Vault policies grant each namespace that folder.",
    )
    allow_plaintext_auth: bool = Field(
        False,
        description="POT_ALLOW_PLAINTEXT_AUTH: let mailboxes with credentials use smtp.tlsMode none (AUTH in "
        "cleartext); the operator refuses them otherwise and passes the setting to the workers.",
    )
    allow_secret_refs: bool = Field(
        True,
        description="POT_ALLOW_SECRET_REFS: read Kubernetes Secrets a Mailbox (credentials.secretRef) or a "
        "Campaign (recipients.secretRef) names; false refuses them with a condition (the chart then grants "
        "no Secret access).",
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="POT_METRICS_PORT: Prometheus metrics port; 0 disables the endpoint."
    )
    worker_image: str = Field(
        "ghcr.io/pot-dev/pot:0.1.0",
        description="POT_WORKER_IMAGE: worker image when a pool names none. One image holds both programs "
        "(the chart passes its own image here); the worker Deployment runs it with args [pot-worker].",
    )
    worker_image_allowlist: tuple[str, ...] = Field(
        (),
        description="POT_WORKER_IMAGE_ALLOWLIST: comma-separated image references a pool's "
        "spec.workers.image may name besides POT_WORKER_IMAGE; any other is refused (WorkerImageNotAllowed).",
    )
    worker_secret: str = Field(
        "pot-env",
        description="POT_WORKER_SECRET: the Secret (in each pool's namespace) holding POT_DATABASE_URL and "
        "POT_REDIS_URL for worker pods; `pot-env`, the chart's config.secretName default.",
    )
    worker_vault_role: str = Field(
        "",
        description="POT_WORKER_VAULT_ROLE: the Vault kubernetes-auth role worker pods log in with, "
        "`{namespace}` replaced by the pool's namespace (e.g. `pot-worker-{namespace}`: one role per "
        "namespace, whose policy reads only that namespace's folder); empty: token auth by Secret.",
    )
    worker_service_account: str = Field(
        "pot-worker",
        description="POT_WORKER_SERVICE_ACCOUNT: the worker pods' service account (Vault kubernetes auth).",
    )
    reconcile_interval: float = Field(
        15.0,
        gt=0,
        description="POT_RECONCILE_INTERVAL: seconds between pool scans (health, cooldown, limits, scaling).",
    )
    campaign_interval: float = Field(
        10.0, gt=0, description="POT_CAMPAIGN_INTERVAL: seconds between campaign count refreshes."
    )
    events_retention_days: int = Field(
        90,
        ge=MIN_RETENTION_DAYS,
        description="POT_EVENTS_RETENTION_DAYS: delivery events older than this many days are deleted, and "
        "the send jobs of deleted Campaigns that ended that long ago (pot_operator.retention); at least "
        f"{MIN_RETENTION_DAYS}, the longest health window a pool may set plus a day.",
    )
    scale_down_stabilization: float = Field(
        300.0,
        ge=0,
        description="POT_SCALE_DOWN_STABILIZATION: seconds a pool's workers keep the highest replica count "
        "recommended within them before scaling down (the HorizontalPodAutoscaler's default window).",
    )
    # SMTP transcripts (docs/transcripts.md): passed on to every pool's worker Deployment. POT_WORKER_ names,
    # not the workers' own POT_TRANSCRIPTS_*: the local stack exports those for its workers and potctl,
    # and must not turn this on by accident.
    worker_transcripts_endpoint: str = Field(
        "",
        pattern=r"^(https?://[^\s/?#]+)?$",
        description="POT_WORKER_TRANSCRIPTS_ENDPOINT: the S3-compatible store (http(s)://host[:port]) each "
        "pool's workers write SMTP transcripts to, with their namespace's keys from Vault; empty: none. "
        "Needs POT_VAULT_ADDR.",
    )
    worker_transcripts_bucket: str = Field(
        "pot-transcripts",
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="POT_WORKER_TRANSCRIPTS_BUCKET: the bucket (made by the store's admin).",
    )
    worker_transcripts_region: str = Field(
        "us-east-1", min_length=1, description="POT_WORKER_TRANSCRIPTS_REGION: the signing region."
    )
    worker_transcripts_vault_path: str = Field(
        "transcripts",
        pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$",
        description="POT_WORKER_TRANSCRIPTS_VAULT_PATH: where, relative to each namespace's Vault folder, "
        "the workers read the store's access_key and secret_key; a namespace without them sends all the "
        "same, without transcripts.",
    )
    credentials_recheck: float = Field(
        600.0,
        ge=0,
        description="POT_CREDENTIALS_RECHECK: seconds before a verified credential is checked again.",
    )
    worker_limit: int = Field(
        200,
        ge=1,
        description="POT_WORKER_LIMIT: concurrent object workers in kopf (bounds memory and API pressure at "
        "12,000 objects).",
    )
    namespace: tuple[str, ...] = Field(
        (),
        description="POT_NAMESPACE: comma-separated namespaces to serve; empty serves the whole cluster.",
    )
    dns_resolver: str = Field(
        "",
        description="POT_DNS_RESOLVER: the resolver for DNS preflight (host:port); empty uses the system's.",
    )
    dnsbl_zones: str = Field(
        "",
        description="POT_DNSBL_ZONES: blocklist zones for preflight and mailbox rechecks, e.g. "
        "`bl.test,domain:dbl.test`.",
    )
    preflight_cache: float = Field(
        3600.0,
        ge=0,
        description="POT_PREFLIGHT_CACHE: seconds a domain's preflight result is reused (12,000 mailboxes "
        "share few domains).",
    )
    domain_recheck: float = Field(
        3600.0,
        ge=0,
        description="POT_DOMAIN_RECHECK: seconds between DNS/blocklist rechecks of the mailboxes' domains.",
    )
    telegram_api_url: str = Field(
        "", description="POT_TELEGRAM_API_URL: Bot API base for alerts; empty uses api.telegram.org."
    )
    slack_webhook_url: str = Field(
        "",
        repr=False,
        description="POT_SLACK_WEBHOOK_URL: when set, the scheme and host of every Slack webhook read from "
        "Vault are replaced by this base (a proxy or a local fake); the path from Vault is kept.",
    )
    alert_dedup: float = Field(
        3600.0,
        ge=0,
        description="POT_ALERT_DEDUP: seconds in which the same alert (route, pool, kind) is not repeated.",
    )

    @field_validator("namespace", "worker_image_allowlist", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_namespaces(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _transcripts_need_vault(self) -> Settings:
        if self.worker_transcripts_endpoint and not self.vault_addr:
            raise ValueError(
                "POT_WORKER_TRANSCRIPTS_ENDPOINT needs POT_VAULT_ADDR: workers read the store's keys from "
                "their namespace's Vault folder"
            )
        return self

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The served namespaces (POT_NAMESPACE); empty means the whole cluster."""
        return self.namespace

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `env` (default: os.environ); raises SettingsError naming the variable."""
        try:
            return load_settings(cls, env)
        except pydantic.ValidationError as e:
            raise SettingsError(e) from None


class SettingsError(ValueError):
    """A POT_* variable the operator cannot use; the message names each variable and what is wrong."""

    def __init__(self, error: pydantic.ValidationError) -> None:
        problems = [
            f"POT_{str(e['loc'][0]).upper()}: {e['msg']}" if e["loc"] else e["msg"] for e in error.errors()
        ]
        super().__init__("Invalid operator settings: " + "; ".join(problems))


def split_namespaces(value: str) -> tuple[str, ...]:
    """`a, b,,c` -> ("a", "b", "c"): the chart joins served namespaces (and allowed images) with commas."""
    return tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
