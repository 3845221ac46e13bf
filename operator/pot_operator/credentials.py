"""Verifies that a Mailbox's SMTP credentials are allowed, exist and are complete, without keeping them.

Called by the pool controller's observe step (pot_operator.pool.observe). First the cluster admin's
rules, pure and before any read (`refusal`): a Vault path stays inside the mailbox's namespace
folder, no credentials over a cleartext connection (SMTP, IMAP, or an http:// OAuth2 token endpoint),
Secret references only when allowed. Then the read: the keys the mechanism needs are present (a
password, or for OAuth2 the client and refresh token; the token endpoint is not called here). Only a
verdict (ok, CamelCase reason, message, the secret's KV version) leaves this module: the secret
values are read, checked for presence and dropped.
"""

from __future__ import annotations

import dataclasses

from pot_common.api.mailbox import MailboxCredentials, MailboxSpec
from pot_common.backoff import Backoff
from pot_common.mail_credentials import OAUTH2, OAUTH2_KEYS, PASSWORD, missing_keys
from pot_common.vault import (
    DEFAULT_TENANT_PREFIX,
    SecretNotFound,
    VaultForbidden,
    VaultKV,
    VaultNotConfigured,
    VaultPathOutsideTenant,
    VaultUnavailable,
    tenant_path,
)

from pot_operator.kube import KubeApi

# Verdicts the cluster's rules give before anything is read: the spec must change. Each is announced
# with an Event when it first appears on a mailbox.
REFUSALS = ("VaultPathForbidden", "PlaintextAuthNotAllowed", "SecretRefsDisabled")


@dataclasses.dataclass(frozen=True)
class CredentialCheck:
    ok: bool
    reason: str
    message: str
    # A temporary failure (Vault down): keep the previous verdict's state, retry soon.
    temporary: bool = False
    # The KV version of the Vault secret that was read (None for Secrets and failed reads).
    version: int | None = None


@dataclasses.dataclass(frozen=True)
class CachedCheck:
    """A verdict and the credentials reference (its fingerprint) it was made for."""

    fingerprint: str
    check: CredentialCheck


@dataclasses.dataclass(frozen=True)
class CredentialPolicy:
    """What the cluster admin allows (operator settings POT_VAULT_TENANT_PREFIX,
    POT_ALLOW_PLAINTEXT_AUTH and POT_ALLOW_SECRET_REFS)."""

    tenant_prefix: str = DEFAULT_TENANT_PREFIX
    allow_plaintext_auth: bool = False
    allow_secret_refs: bool = True


def credentials_ref(creds: MailboxCredentials, namespace: str, prefix: str) -> str | None:
    """The reference the workers resolve (docs/worker.md), with the Vault path resolved inside the
    namespace's folder; never the secret itself, and None for a path that would leave the folder."""
    if creds.vault_path:
        try:
            return f"vault:{tenant_path(namespace, creds.vault_path, prefix)}"
        except VaultPathOutsideTenant:
            return None
    if creds.secret_ref is not None:
        return f"secret:{namespace}/{creds.secret_ref.name}"
    return None


def refusal(spec: MailboxSpec, namespace: str, policy: CredentialPolicy) -> CredentialCheck | None:
    """Why the cluster's rules refuse these credentials before anything is read; None when allowed."""
    creds = spec.credentials
    if creds.vault_path:
        try:
            tenant_path(namespace, creds.vault_path, policy.tenant_prefix)
        except VaultPathOutsideTenant as e:
            return CredentialCheck(False, "VaultPathForbidden", f"{e}; nothing was read")
    elif creds.secret_ref is not None and not policy.allow_secret_refs:
        return CredentialCheck(
            False,
            "SecretRefsDisabled",
            "The cluster admin turned Kubernetes Secret references off (POT_ALLOW_SECRET_REFS=false): "
            "keep the credentials in Vault and name them with credentials.vaultPath",
        )
    has_credentials = bool(creds.vault_path) or creds.secret_ref is not None
    if has_credentials and not policy.allow_plaintext_auth:
        return _cleartext(spec)
    return None


def _cleartext(spec: MailboxSpec) -> CredentialCheck | None:
    """Where the credentials or tokens would cross the network in cleartext (pure): SMTP or IMAP
    without TLS, or an OAuth2 token endpoint over http:// (the refresh token and client secret)."""
    allow = "only the cluster admin can allow cleartext AUTH: POT_ALLOW_PLAINTEXT_AUTH"
    if spec.smtp.tls_mode == "none":
        return CredentialCheck(
            False,
            "PlaintextAuthNotAllowed",
            f"smtp.tlsMode none would send the credentials to {spec.smtp.host} in cleartext; use starttls "
            f"or implicit ({allow})",
        )
    if spec.imap is not None and spec.imap.tls_mode == "none":
        return CredentialCheck(
            False,
            "PlaintextAuthNotAllowed",
            f"imap.tlsMode none would send the credentials to the IMAP server in cleartext; use starttls "
            f"or implicit ({allow})",
        )
    oauth = spec.credentials.oauth2
    if oauth is not None and (oauth.token_url or "").lower().startswith("http://"):
        return CredentialCheck(
            False,
            "PlaintextAuthNotAllowed",
            f"oauth2.tokenUrl {oauth.token_url} would receive the refresh token and client secret in "
            f"cleartext; use https:// ({allow})",
        )
    return None


async def check_vault(vault: VaultKV, path: str, mechanism: str = PASSWORD) -> CredentialCheck:
    """Read the KV v2 secret at `path` (already resolved) and check it has the keys `mechanism` needs:
    username and password, or for oauth2 username, client_id, client_secret and refresh_token (the
    token endpoint is not called: the worker's first login tells, and marks a refused one).

    Other VaultError kinds (Vault refusing the request for another reason) propagate: the scan
    fails, is counted and retried, as for any unexpected error.
    """
    config = vault.config
    try:
        data, version = await vault.read_version_async(path)
    except VaultNotConfigured as e:
        message = "POT_VAULT_ADDR is not set on the operator" if not config.addr else f"{e} on the operator"
        return CredentialCheck(False, "VaultNotConfigured", message)
    except SecretNotFound:
        return CredentialCheck(
            False,
            "SecretMissing",
            f"No secret at {config.mount}/{path} in Vault; write one with keys {_keys_text(mechanism)}",
        )
    except VaultForbidden:
        return CredentialCheck(
            False, "VaultAccessDenied", f"The operator's Vault policy does not allow reading {path}"
        )
    except VaultUnavailable as e:
        # Its message is "Vault at <addr> did not answer: <error type>", never a value.
        return CredentialCheck(False, "VaultUnavailable", str(e), temporary=True)
    verdict = _verdict(missing_keys(data, mechanism), mechanism, where=f"Vault {path}")
    return dataclasses.replace(verdict, version=version)


def _keys_text(mechanism: str) -> str:
    keys = OAUTH2_KEYS if mechanism == OAUTH2 else ("username", "password")
    return ", ".join(keys[:-1]) + " and " + keys[-1]


def _verdict(missing: list[str], mechanism: str, *, where: str) -> CredentialCheck:
    """The verdict from the keys a secret lacks (pure); only key names, never values, are named."""
    if missing:
        return CredentialCheck(False, "SecretIncomplete", f"{where} lacks {' and '.join(missing)}")
    if mechanism == OAUTH2:
        return CredentialCheck(
            True, "Verified", f"Username, OAuth2 client and refresh token present in {where}"
        )
    return CredentialCheck(True, "Verified", f"Username and password present in {where}")


async def check_credentials(
    spec: MailboxSpec, namespace: str, vault: VaultKV, kube: KubeApi, policy: CredentialPolicy
) -> CredentialCheck:
    """The verdict for one mailbox's credentials: the cluster's rules, then the read."""
    refused = refusal(spec, namespace, policy)
    if refused is not None:
        return refused
    creds = spec.credentials
    mechanism = OAUTH2 if creds.oauth2 is not None else PASSWORD
    if creds.vault_path:
        path = tenant_path(namespace, creds.vault_path, policy.tenant_prefix)
        return await check_vault(vault, path, mechanism)
    if creds.secret_ref is not None:
        ref = creds.secret_ref
        try:
            data = await kube.read_secret_keys(namespace, ref.name)
        except Exception as e:  # the API server may be briefly unreachable: temporary
            return CredentialCheck(
                False,
                "SecretUnreadable",
                f"Could not read Secret {ref.name}: {type(e).__name__}",
                temporary=True,
            )
        if data is None:
            return CredentialCheck(False, "SecretMissing", f"Secret {namespace}/{ref.name} does not exist")
        if mechanism == OAUTH2:
            # The username under its configured key; the OAuth2 keys by their own names.
            present = {**data, "username": data.get(ref.username_key)}
            return _verdict(missing_keys(present, OAUTH2), OAUTH2, where=f"Secret {ref.name}")
        present = {"username": data.get(ref.username_key), "password": data.get(ref.password_key)}
        return _verdict(
            missing_keys(present, PASSWORD),
            PASSWORD,
            where=f"Secret {ref.name} (keys {ref.username_key}, {ref.password_key})",
        )
    return CredentialCheck(False, "NoCredentials", "Set credentials.vaultPath or credentials.secretRef")


def rotated_since_rejection(check: CredentialCheck | None, rejected_version: int | None) -> bool:
    """Whether Vault holds another version of the secret than the one the SMTP server refused.

    Unknown on either side (a Secret reference, a worker that recorded no version) is not a rotation:
    clearing the flag then would only have the workers try the refused password again.
    """
    return (
        check is not None
        and check.ok
        and check.version is not None
        and rejected_version is not None
        and check.version != rejected_version
    )


@dataclasses.dataclass
class VaultOutage:
    """Vault answering "not now" (down, sealed, timing out): after each failed read the next waits
    longer, so a scan of 12,000 mailboxes does not wait out a timeout per mailbox; the first answer
    ends it. `now` is a monotonic clock reading."""

    backoff: Backoff = dataclasses.field(default_factory=lambda: Backoff(base=5.0, cap=60.0))
    failures: int = 0
    retry_at: float = 0.0
    message: str = ""

    def waiting(self, now: float) -> bool:
        """Whether reads are held back now (an outage, and its retry time not come yet)."""
        return self.failures > 0 and now < self.retry_at

    def failed(self, now: float, message: str) -> None:
        self.failures += 1
        self.retry_at = now + self.backoff.delay(self.failures)
        self.message = message

    def answered(self) -> None:
        self.failures, self.retry_at, self.message = 0, 0.0, ""
