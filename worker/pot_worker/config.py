"""The worker's settings, one typed place; read by pot_worker.cli from POT_* variables."""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlsplit

from pot_common.config import VaultLogin, load_settings
from pydantic import Field, SecretStr, field_validator, model_validator


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class WorkerSettings(VaultLogin):
    """Every knob of `pot-worker`; the env variable is POT_ + the field name in upper case."""

    pool: str = Field(description="The pool to send for, `namespace/name` (POT_POOL).")
    database_url: str = Field(description="asyncpg DSN (POT_DATABASE_URL).")
    redis_url: str = Field(description="Redis URL holding the limit counters (POT_REDIS_URL).")
    allow_plaintext_auth: bool = Field(
        False,
        description="Send SMTP AUTH over a connection without TLS (tlsMode none); the cluster admin's "
        "choice, off by default: such a mailbox's jobs fail instead of leaking its password.",
    )
    dns_resolver: str | None = Field(
        None, description="`host:port` for MX lookups; system resolver if unset."
    )
    metrics_port: int = Field(9100, description="Prometheus port; 0 disables the HTTP server.")
    worker_id: str = Field(default_factory=_default_worker_id, description="Unique per process.")
    smtp_ca_file: str | None = Field(None, description="Extra CA bundle for SMTP TLS (a private CA).")
    helo_name: str = Field("pot-worker.local", description="EHLO name; avoids a slow getfqdn() per connect.")

    batch_size: int = Field(
        50, ge=1, le=1000, description="Jobs claimed per round trip at first, and while limits refuse."
    )
    batch_size_max: int = Field(
        400,
        ge=1,
        le=1000,
        description="Claims double up to this while every claimed job gets its limits; below "
        "batch_size, batch_size is the fixed size.",
    )
    lanes: int = Field(2, ge=1, le=64, description="Batches in flight at once, so SQL overlaps SMTP.")
    lease_seconds: float = Field(
        60.0, gt=0, description="Claim lease (clock seconds); extended by heartbeats."
    )
    heartbeat_seconds: float = Field(5.0, gt=0, description="Heartbeat, lease extension and reaper period.")
    refresh_seconds: float = Field(5.0, gt=0, description="How often pool, mailboxes and campaigns reload.")
    idle_seconds: float = Field(0.5, gt=0, description="Sleep when nothing is due.")
    drain_seconds: float = Field(30.0, gt=0, description="SIGTERM: time allowed for in-flight sends.")

    retry_base_seconds: float = Field(300.0, gt=0, description="First retry's upper bound (full jitter).")
    retry_cap_seconds: float = Field(6 * 3600.0, gt=0, description="Largest retry delay.")
    max_attempts: int = Field(6, ge=1, description="Attempts before a temporary failure becomes final.")
    breaker_threshold: int = Field(5, ge=1, description="Consecutive temporary failures that open a circuit.")
    breaker_cooloff_seconds: float = Field(300.0, gt=0, description="Open time before a half-open probe.")
    smtp_timeout_seconds: float = Field(30.0, gt=0, description="Per SMTP command.")
    credentials_ttl_seconds: float = Field(
        30.0,
        gt=0,
        description="How long fetched credentials are cached: a rotated password is in use this long "
        "after the write at most (one Vault read per mailbox per period while it sends).",
    )
    mailbox_candidates: int = Field(8, ge=1, le=64, description="Mailboxes offered to one limit reservation.")

    # SMTP transcripts (pot_worker.archive, docs/transcripts.md): off unless an endpoint is set.
    transcripts_endpoint: str | None = Field(
        None, description="S3-compatible store for SMTP transcripts, http(s)://host:port; off if unset."
    )
    transcripts_bucket: str = Field("pot-transcripts", description="The bucket transcripts are written to.")
    transcripts_region: str = Field("us-east-1", description="The store's region (signing; no lookup).")
    transcripts_access_key: str | None = Field(None, description="The store's access key (local stack).")
    transcripts_secret_key: SecretStr | None = Field(None, description="The store's secret key (local).")
    transcripts_vault_path: str | None = Field(
        None,
        description="Vault KV path, relative to the namespace's folder, holding access_key and secret_key "
        "(in a cluster); wins over the keys above.",
    )
    transcripts_ca_file: str | None = Field(None, description="Extra CA bundle for the store's TLS.")
    transcripts_flush_seconds: float = Field(5.0, gt=0, description="Longest a transcript waits.")
    transcripts_batch_records: int = Field(
        2000, ge=1, description="Transcripts (job attempts) per object at most; a full batch goes at once."
    )
    transcripts_queue_records: int = Field(
        5000,
        ge=1,
        description="Transcripts held while the store is slow or away (~4 KiB each); then dropped.",
    )

    clock_speed: float = Field(1.0, gt=0, description="Tests only: clock seconds per real second.")
    clock_start: float | None = Field(None, description="Tests only: the clock's epoch second at the origin.")
    clock_origin: float | None = Field(
        None, description="Tests only: real epoch second where the scaled clock starts."
    )
    log_json: bool = Field(False, description="JSON log lines.")

    @field_validator("pool")
    @classmethod
    def _pool_is_namespaced(cls, value: str) -> str:
        namespace, sep, name = value.partition("/")
        if not sep or not namespace or not name:
            raise ValueError("POT_POOL must be namespace/name")
        return value

    @field_validator("transcripts_endpoint")
    @classmethod
    def _endpoint_is_a_base_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname or url.path.strip("/") or url.query:
            raise ValueError("POT_TRANSCRIPTS_ENDPOINT must be http(s)://host[:port], without a path")
        return value

    @model_validator(mode="after")
    def _transcripts_have_credentials(self) -> WorkerSettings:
        if self.transcripts_endpoint and not (
            self.transcripts_vault_path or (self.transcripts_access_key and self.transcripts_secret_key)
        ):
            raise ValueError(
                "POT_TRANSCRIPTS_ENDPOINT needs POT_TRANSCRIPTS_VAULT_PATH or "
                "POT_TRANSCRIPTS_ACCESS_KEY and POT_TRANSCRIPTS_SECRET_KEY"
            )
        return self

    @property
    def pool_namespace(self) -> str:
        return self.pool.partition("/")[0]

    @property
    def pool_name(self) -> str:
        return self.pool.partition("/")[2]


def settings_from_env(**overrides: str) -> WorkerSettings:
    """Settings from the process environment; command-line flags come in as `overrides`."""
    env = {**os.environ, **{"POT_" + key.upper(): value for key, value in overrides.items()}}
    return load_settings(WorkerSettings, env)
