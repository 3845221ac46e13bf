"""Credential verdicts from Vault's typed errors and from Secrets (fakes: no Vault, no API server).

Paths are relative to the namespace's folder: `mailboxes/a` in namespace `ns` is read at `pot/ns/mailboxes/a`.
"""

from __future__ import annotations

from typing import Any

import pytest
from pot_common.api.mailbox import MailboxSpec
from pot_common.vault import (
    SecretNotFound,
    VaultConfig,
    VaultForbidden,
    VaultKV,
    VaultNotConfigured,
    VaultUnavailable,
)
from pot_operator.credentials import CredentialPolicy, check_credentials


def mailbox(credentials: dict[str, Any]) -> MailboxSpec:
    return MailboxSpec.model_validate(
        {"address": "a@acme-mail.test", "smtp": {"host": "smtp.acme-mail.test"}, "credentials": credentials}
    )


VAULT = mailbox({"vaultPath": "mailboxes/a"})
SECRET = mailbox({"secretRef": {"name": "smtp-a"}})


class FakeVault(VaultKV):
    def __init__(self, answer: dict[str, Any] | Exception, addr: str = "http://vault:8200") -> None:
        super().__init__(VaultConfig(addr=addr, token="t", mount="kv"))
        self.answer = answer

    def read_version(self, path: str) -> tuple[dict[str, Any], int | None]:
        assert path == "pot/ns/mailboxes/a", path  # always resolved inside the namespace's folder
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer, 3


class FakeKube:
    def __init__(self, data: dict[str, bytes] | Exception | None) -> None:
        self.data = data

    async def read_secret_keys(self, namespace: str, name: str) -> dict[str, bytes] | None:
        if isinstance(self.data, Exception):
            raise self.data
        return self.data


async def check(vault: VaultKV, spec: MailboxSpec = VAULT, kube: Any = None) -> tuple[bool, str, str, bool]:
    c = await check_credentials(spec, "ns", vault, kube or FakeKube(None), CredentialPolicy())
    return c.ok, c.reason, c.message, c.temporary


@pytest.mark.parametrize(
    ("error", "reason", "message", "temporary"),
    [
        (
            SecretNotFound("No secret at kv/pot/ns/mailboxes/a in Vault"),
            "SecretMissing",
            "No secret at kv/pot/ns/mailboxes/a in Vault; write one with keys username and password",
            False,
        ),
        (
            VaultForbidden("The Vault policy does not allow reading kv/pot/ns/mailboxes/a"),
            "VaultAccessDenied",
            "The operator's Vault policy does not allow reading pot/ns/mailboxes/a",
            False,
        ),
        (
            VaultUnavailable("Vault at http://vault:8200 did not answer: ConnectionError"),
            "VaultUnavailable",
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
        "Vault pot/ns/mailboxes/a lacks password",
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
