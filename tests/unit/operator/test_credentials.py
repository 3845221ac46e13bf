"""Credential verdicts from Vault's typed errors and from Secrets (fakes: no Vault, no API server)."""

from __future__ import annotations

from typing import Any

import pytest
from pot_common.api.mailbox import MailboxCredentials
from pot_common.vault import (
    SecretNotFound,
    VaultConfig,
    VaultForbidden,
    VaultKV,
    VaultNotConfigured,
    VaultUnavailable,
)
from pot_operator.credentials import check_credentials

VAULT = MailboxCredentials.model_validate({"vaultPath": "pot/mailboxes/a"})
SECRET = MailboxCredentials.model_validate({"secretRef": {"name": "smtp-a"}})


class FakeVault(VaultKV):
    def __init__(self, answer: dict[str, Any] | Exception, addr: str = "http://vault:8200") -> None:
        super().__init__(VaultConfig(addr=addr, token="t", mount="kv"))
        self.answer = answer

    def read(self, path: str) -> dict[str, Any]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class FakeKube:
    def __init__(self, data: dict[str, bytes] | Exception | None) -> None:
        self.data = data

    async def read_secret_keys(self, namespace: str, name: str) -> dict[str, bytes] | None:
        if isinstance(self.data, Exception):
            raise self.data
        return self.data


async def check(
    vault: VaultKV, creds: MailboxCredentials = VAULT, kube: Any = None
) -> tuple[bool, str, str, bool]:
    c = await check_credentials(creds, "ns", vault, kube or FakeKube(None))
    return c.ok, c.reason, c.message, c.temporary


@pytest.mark.parametrize(
    ("error", "reason", "message", "temporary"),
    [
        (
            SecretNotFound("No secret at kv/pot/mailboxes/a in Vault"),
            "SecretMissing",
            "No secret at kv/pot/mailboxes/a in Vault; write one with keys username and password",
            False,
        ),
        (
            VaultForbidden("The Vault policy does not allow reading kv/pot/mailboxes/a"),
            "VaultAccessDenied",
            "The operator's Vault policy does not allow reading pot/mailboxes/a",
            False,
        ),
        (
            VaultUnavailable("Vault at http://vault:8200 did not answer: ConnectionError"),
            "VaultUnreachable",
            "Vault at http://vault:8200 did not answer: ConnectionError",
            True,
        ),
    ],
)
async def test_vault_errors_become_reasons(
    error: Exception, reason: str, message: str, temporary: bool
) -> None:
    assert await check(FakeVault(error)) == (False, reason, message, temporary)


async def test_vault_not_configured_keeps_its_message() -> None:
    unset = FakeVault(VaultNotConfigured("POT_VAULT_ADDR is not set"), addr="")
    assert await check(unset) == (
        False,
        "VaultNotConfigured",
        "POT_VAULT_ADDR is not set on the operator",
        False,
    )


async def test_a_secret_needs_both_keys_and_the_values_stay_inside() -> None:
    ok, reason, message, _ = await check(FakeVault({"username": "u", "password": "s3cret"}))
    assert (ok, reason) == (True, "Verified") and "s3cret" not in message
    assert await check(FakeVault({"username": "u"})) == (
        False,
        "SecretIncomplete",
        "Vault pot/mailboxes/a lacks password",
        False,
    )


async def test_kubernetes_secrets_missing_unreadable_and_complete() -> None:
    vault = FakeVault({})
    missing = await check(vault, SECRET, FakeKube(None))
    assert missing == (False, "SecretMissing", "Secret ns/smtp-a does not exist", False)
    unreadable = await check(vault, SECRET, FakeKube(OSError("connection refused")))
    assert unreadable[1] == "SecretUnreadable" and unreadable[3]
    complete = await check(vault, SECRET, FakeKube({"username": b"u", "password": b"p"}))
    assert complete[:2] == (True, "Verified")
