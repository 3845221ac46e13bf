"""The ingester's settings, one typed place; read by pot_ingester.cli from POT_* variables."""

from __future__ import annotations

import os

from pot_common.config import VaultLogin, load_settings
from pydantic import Field, field_validator


class IngesterSettings(VaultLogin):
    """Every knob of `pot-ingester`; the env variable is POT_ + the field name in upper case. The
    operator gives its Deployment the worker's variables (pool, database, Vault, plaintext policy)."""

    pool: str = Field(description="The pool whose mailboxes' inboxes are read, `namespace/name` (POT_POOL).")
    database_url: str = Field(description="asyncpg DSN (POT_DATABASE_URL).")
    allow_plaintext_auth: bool = Field(
        False,
        description="Log in to an IMAP server without TLS (tlsMode none); the cluster admin's choice, off "
        "by default: such a mailbox is not read instead of sending its password in clear.",
    )
    metrics_port: int = Field(9101, description="Prometheus port; 0 disables the HTTP server.")
    imap_ca_file: str | None = Field(None, description="Extra CA bundle for IMAP TLS (a private CA).")
    credentials_ttl_seconds: float = Field(
        30.0, gt=0, description="How long fetched credentials are cached (a rotation waits this long)."
    )

    refresh_seconds: float = Field(
        30.0, gt=0, description="How often the pool's mailbox set is read again (added, removed, paused)."
    )
    poll_seconds: float = Field(
        60.0,
        gt=0,
        description="Between reads of an inbox whose server offers no IDLE, or beyond max_connections.",
    )
    imap_idle: bool = Field(
        True,
        description="Wait with IDLE where the server offers it; false polls every poll_seconds instead "
        "(a server whose IDLE misbehaves).",
    )
    idle_renew_seconds: float = Field(
        25 * 60.0,
        gt=0,
        le=29 * 60.0,
        description="An IDLE is ended and started again after this long (servers may drop it after 30 min).",
    )
    max_connections: int = Field(
        2000,
        ge=0,
        description="Inboxes held open at once (IDLE, or NOOP polling on the open connection); the others "
        "are read by a short login every poll_seconds.",
    )
    max_logins: int = Field(
        20, ge=1, le=1000, description="Logins (connect, TLS, authenticate) in progress at once."
    )
    fetch_batch: int = Field(25, ge=1, le=500, description="Messages fetched per UID FETCH.")
    max_message_bytes: int = Field(
        256 * 1024,
        ge=4096,
        description="Bytes read of each message: the report parts come first; a large attachment is cut.",
    )
    imap_timeout_seconds: float = Field(30.0, gt=0, description="Per IMAP command.")
    reconnect_base_seconds: float = Field(
        1.0, gt=0, description="First reconnect's upper bound (full jitter)."
    )
    reconnect_cap_seconds: float = Field(300.0, gt=0, description="Largest reconnect delay.")
    log_json: bool = Field(False, description="JSON log lines.")

    @field_validator("pool")
    @classmethod
    def _pool_is_namespaced(cls, value: str) -> str:
        namespace, sep, name = value.partition("/")
        if not sep or not namespace or not name:
            raise ValueError("POT_POOL must be namespace/name")
        return value

    @property
    def pool_namespace(self) -> str:
        return self.pool.partition("/")[0]

    @property
    def pool_name(self) -> str:
        return self.pool.partition("/")[2]


def settings_from_env(**overrides: str) -> IngesterSettings:
    """Settings from the process environment; command-line flags come in as `overrides`."""
    env = {**os.environ, **{"POT_" + key.upper(): value for key, value in overrides.items()}}
    return load_settings(IngesterSettings, env)
