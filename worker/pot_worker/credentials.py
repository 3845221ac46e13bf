"""SMTP logins from Vault/OpenBao for pot_worker.dispatcher: pot_common.mail_credentials from settings.

The store itself (Vault read, cache, OAuth2 access tokens) is pot_common.mail_credentials, shared with
the ingester; this module builds it from the worker's settings. In a cluster the
worker logs in to Vault with the kubernetes auth method as its own ServiceAccount (POT_VAULT_ROLE), so
Vault's policy, not this code, decides which namespace's secrets it may read; a token is for tests.

The values are held in pydantic SecretStr so a stray repr or log line shows asterisks; nothing here
logs them. Vault being away (`VaultUnavailable`) propagates: it is temporary, never bad credentials.
Each entry keeps the secret's KV version, so a refusal names the version that was refused and the
operator can tell when a newer one was written, and the dispatcher sees a rotation (another version)
and logs its connection in again. Entries live POT_CREDENTIALS_TTL_SECONDS (30 s by default): the
longest a rotated password waits to be used, for one Vault read per sending mailbox per period.
"""

from __future__ import annotations

from pot_common import mail_credentials
from pot_common.mail_credentials import CredentialsError, Login, LoginRefused
from pot_common.vault import VaultConfig, VaultKV

from pot_worker.config import WorkerSettings

# The password login as the worker's callers and tests build it: Credentials(username, password, version).
Credentials = Login.with_password


def vault_config(settings: WorkerSettings) -> VaultConfig:
    """Token auth when POT_VAULT_TOKEN is set, else kubernetes auth as the pod's ServiceAccount."""
    return settings.vault_config()


class CredentialStore(mail_credentials.CredentialStore):
    """pot_common.mail_credentials.CredentialStore, built from the worker's settings."""

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> CredentialStore:
        return cls(VaultKV(vault_config(settings)), settings.credentials_ttl_seconds)


__all__ = ["CredentialStore", "Credentials", "CredentialsError", "Login", "LoginRefused", "vault_config"]
