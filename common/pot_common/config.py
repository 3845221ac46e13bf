"""Typed settings from POT_* environment variables; each program's settings model calls load_settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field, SecretStr

from pot_common.vault import SERVICE_ACCOUNT_TOKEN, VaultConfig

SettingsT = TypeVar("SettingsT", bound=BaseModel)


def load_settings(
    model: type[SettingsT], environ: Mapping[str, str] | None = None, prefix: str = "POT_"
) -> SettingsT:
    """Build `model` from `<prefix><FIELD_NAME>` variables; pydantic parses and validates the strings.

    Unset and empty variables fall back to the model's defaults, so `FOO=` in an env file means "default".
    """
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for field in model.model_fields:
        raw = env.get(prefix + field.upper())
        if raw is not None and raw != "":
            values[field] = raw
    return model.model_validate(values)


class VaultLogin(BaseModel):
    """How a pool's programs (worker, ingester) log in to Vault for their namespace's secrets: the
    fields of both programs' settings, and the one way they become a VaultConfig."""

    vault_addr: str | None = Field(None, description="OpenBao/Vault address for the mailboxes' credentials.")
    vault_token: SecretStr | None = Field(
        None, description="Vault token (token auth, the local stack's tests); wins over vault_role."
    )
    vault_role: str | None = Field(
        None, description="Vault kubernetes auth role: log in as this pod's own ServiceAccount."
    )
    vault_k8s_auth_path: str = Field("kubernetes", description="Where Vault's kubernetes auth is mounted.")
    vault_jwt_path: str | None = Field(
        None, description="The ServiceAccount token file; the pod's mounted token if unset (local runner)."
    )
    vault_mount: str = Field("secret", description="KV v2 mount holding `vault:` credential paths.")
    vault_tenant_prefix: str = Field(
        "pot", description="The folder holding each namespace's secrets: `<prefix>/<namespace>/...`."
    )

    def vault_config(self) -> VaultConfig:
        """Token auth when POT_VAULT_TOKEN is set, else kubernetes auth as the pod's ServiceAccount."""
        return VaultConfig(
            addr=self.vault_addr or "",
            token=self.vault_token.get_secret_value() if self.vault_token is not None else "",
            role=self.vault_role or "",
            mount=self.vault_mount,
            k8s_auth_path=self.vault_k8s_auth_path,
            jwt_path=Path(self.vault_jwt_path) if self.vault_jwt_path else SERVICE_ACCOUNT_TOKEN,
            timeout=10,
        )
