"""The Mailbox kind (one sending address): spec and status types for the operator and the CRD generator."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import ConfigDict, Field

from pot_common.api.base import (
    ApiModel,
    BasisPoints,
    Condition,
    Count,
    EmailAddress,
    ResourceName,
    VaultPath,
    cel,
    conditions_field,
    immutable,
    observed_generation_field,
    validations,
)

MailboxState = Literal["Pending", "Warming", "Active", "Cooling", "Paused", "Failed"]


class SmtpEndpoint(ApiModel):
    """The SMTP submission endpoint the mailbox sends through."""

    host: str = Field(
        min_length=1,
        max_length=253,
        # Dot-separated labels of 1 to 63 letters, digits and inner hyphens: `a..b.test` (an empty
        # label) is refused here instead of failing every DNS lookup of its pool.
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$",
        description="Host name or IPv4 address of the submission server, e.g. `smtp.acme-mail.test`.",
    )
    port: int = Field(
        default=587,
        ge=1,
        le=65535,
        description="TCP port: 587 for STARTTLS submission, 465 for implicit TLS.",
    )
    tls_mode: Literal["starttls", "implicit", "none"] = Field(
        default="starttls",
        description=(
            "How the connection is encrypted: `starttls` upgrades a plain connection, `implicit` "
            "speaks TLS from the start (port 465), `none` only for local test servers: with credentials "
            "it is refused unless the cluster admin allows cleartext AUTH (POT_ALLOW_PLAINTEXT_AUTH)."
        ),
    )


class ImapEndpoint(ApiModel):
    """Where POT reads the mailbox's inbox: bounces, complaints and replies arrive there, minutes to days
    after the submission server accepted a message."""

    host: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$",
        description=(
            "Host name of the IMAP server, e.g. `imap.acme-mail.test`. May be left out for the providers "
            "POT knows by their SMTP host: `smtp.gmail.com` reads `imap.gmail.com`, `smtp.office365.com` "
            "and `smtp-mail.outlook.com` read `outlook.office365.com`; otherwise the InboxReady condition "
            "says it is missing."
        ),
    )
    port: int = Field(
        default=993, ge=1, le=65535, description="TCP port: 993 for implicit TLS, 143 otherwise."
    )
    tls_mode: Literal["implicit", "starttls", "none"] = Field(
        default="implicit",
        description=(
            "How the connection is encrypted: `implicit` speaks TLS from the start (port 993), `starttls` "
            "upgrades a plain connection, `none` only for local test servers (refused with credentials "
            "unless the cluster admin allows cleartext AUTH, POT_ALLOW_PLAINTEXT_AUTH)."
        ),
    )


class OAuth2Settings(ApiModel):
    """Sign in with OAuth2 (XOAUTH2 on SMTP and IMAP) instead of a password."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.provider != 'custom' || has(self.tokenUrl)",
                "oauth2.tokenUrl is required when provider is custom",
                ".tokenUrl",
            )
        )
    )

    provider: Literal["google", "microsoft", "custom"] = Field(
        description=(
            "Whose token endpoint issues the access tokens: `google` (oauth2.googleapis.com), `microsoft` "
            "(login.microsoftonline.com, for the directory named by the secret's `tenant` key, default "
            "`organizations`) or `custom` with tokenUrl."
        ),
    )
    token_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description=(
            "The token endpoint for provider `custom`, or to override a known provider's. `http://` only "
            "when the cluster admin allows cleartext AUTH (POT_ALLOW_PLAINTEXT_AUTH)."
        ),
    )


class SecretCredentialsRef(ApiModel):
    """A Kubernetes Secret in the Mailbox's namespace holding the SMTP username and password."""

    name: ResourceName = Field(description="Name of the Secret.")
    username_key: str = Field(
        default="username",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key in the Secret's data holding the SMTP username.",
    )
    password_key: str = Field(
        default="password",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key in the Secret's data holding the SMTP password.",
    )


class MailboxCredentials(ApiModel):
    """Where the SMTP credentials live: exactly one of `vaultPath` or `secretRef`, never the secret itself."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.vaultPath) != has(self.secretRef)",
                "credentials: set exactly one of vaultPath or secretRef",
            )
        )
    )

    vault_path: VaultPath | None = Field(
        default=None,
        description=(
            "Path of a KV v2 secret with keys `username` and `password`, relative to this namespace's "
            "folder: `mailboxes/alice` is read at `<prefix>/<namespace>/mailboxes/alice` in the Vault "
            "mount (prefix POT_VAULT_TENANT_PREFIX, default `pot`; mount POT_VAULT_MOUNT, default "
            "`secret`). No leading `/` and no `.` or `..` segment: a Mailbox names only its own "
            "namespace's secrets."
        ),
    )
    secret_ref: SecretCredentialsRef | None = Field(
        default=None,
        description=(
            "A Kubernetes Secret in this namespace holding the credentials (for clusters without Vault; "
            "the cluster admin may turn Secret references off, POT_ALLOW_SECRET_REFS)."
        ),
    )
    oauth2: OAuth2Settings | None = Field(
        default=None,
        description=(
            "Sign in with OAuth2 instead of a password: the secret then holds `username`, `client_id`, "
            "`client_secret` and `refresh_token` (and for Microsoft optionally `tenant`) in place of "
            "`password`. Access tokens are refreshed before they expire and kept only in memory."
        ),
    )


class MailboxSpec(ApiModel):
    """Desired state of a Mailbox. Its labels select it into MailboxPools."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.pauseReason) || self.paused",
                "pauseReason may only be set while paused is true",
                ".pauseReason",
            )
        )
    )

    address: EmailAddress = Field(
        description="The sending address (envelope and From), e.g. `alice@acme-mail.test`. Immutable.",
        json_schema_extra=immutable("address"),
    )
    display_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Display name shown in the From header, e.g. `Alice from Acme`.",
    )
    signature: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description=(
            "Text a campaign template may place with `{{ sender_signature }}` (plain text; escaped in "
            "HTML bodies). Empty when unset."
        ),
    )
    smtp: SmtpEndpoint = Field(description="The SMTP endpoint to send through.")
    imap: ImapEndpoint | None = Field(
        default=None,
        description=(
            "Read this mailbox's inbox for bounces, complaints, auto-replies and replies (the pool's "
            "ingester, with the same credentials). Without it POT learns only from the submission reply."
        ),
    )
    credentials: MailboxCredentials = Field(
        description="Where the SMTP credentials are kept: exactly one of vaultPath or secretRef."
    )
    warmup_start: date | None = Field(
        default=None,
        description=(
            "First day of warmup (YYYY-MM-DD); the pool's warmup curve counts days from here. "
            "Defaults to the day the Mailbox was created."
        ),
    )
    paused: bool = Field(default=False, description="Stop sending from this mailbox until set back to false.")
    pause_reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Why a person paused the mailbox (shown in status); only with paused: true.",
    )


class MailboxHealth(ApiModel):
    """Delivery outcomes over the pool's health window, the inputs of the health score."""

    window_seconds: Count | None = Field(default=None, description="Length of the window the counts cover.")
    sent: Count = Field(default=0, description="Messages accepted by the SMTP server in the window.")
    bounced: Count = Field(default=0, description="Hard bounces in the window.")
    complained: Count = Field(default=0, description="Spam complaints in the window.")
    deferred: Count = Field(default=0, description="Temporary failures (4xx, throttling) in the window.")
    bounce_rate_basis_points: BasisPoints = Field(
        default=0, description="Bounced / attempted, in basis points."
    )
    complaint_rate_basis_points: BasisPoints = Field(
        default=0, description="Complained / delivered, in basis points."
    )
    deferral_rate_basis_points: BasisPoints = Field(
        default=0, description="Deferred / attempted, in basis points."
    )


class MailboxStatus(ApiModel):
    """Observed state of a Mailbox, written by the operator."""

    observed_generation: int | None = observed_generation_field()
    state: MailboxState | None = Field(
        default=None,
        description="Lifecycle state: Pending, Warming, Active, Cooling, Paused or Failed.",
    )
    pool: str | None = Field(default=None, max_length=253, description="The MailboxPool that selects it.")
    warmup_day: int | None = Field(
        default=None, ge=0, description="Day of warmup (1 on the start day); 0 before warmup starts."
    )
    cap_today: Count | None = Field(
        default=None, description="Effective send cap for today after warmup, cooldown and pool limits."
    )
    sent_today: Count | None = Field(
        default=None, description="Messages sent today (in the pool's time zone)."
    )
    health_score: int | None = Field(
        default=None, ge=0, le=100, description="0 (unusable) to 100 (healthy), from the health inputs."
    )
    health: MailboxHealth | None = Field(default=None, description="The inputs of the health score.")
    cooldown_until: datetime | None = Field(
        default=None, description="While cooling down, when the reduced cap ends (RFC 3339)."
    )
    pause_reason: str | None = Field(
        default=None,
        max_length=1024,
        description="Why the mailbox is paused (manual, auto-pause, failed login).",
    )
    conditions: list[Condition] = conditions_field()


__all__ = [
    "MailboxCredentials",
    "MailboxHealth",
    "MailboxSpec",
    "MailboxState",
    "MailboxStatus",
    "SecretCredentialsRef",
    "SmtpEndpoint",
]
