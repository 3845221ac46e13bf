"""The operator's verdict on an OAuth2 mailbox's secret (keys present, no password needed, values never in
the message) and the cleartext refusals OAuth2 and IMAP add (fakes: no Vault, no API server)."""

from __future__ import annotations

from typing import Any

import pytest
from pot_common.api.mailbox import MailboxSpec
from pot_common.vault import SecretNotFound, VaultConfig, VaultKV
from pot_operator.credentials import CredentialPolicy, check_credentials, refusal

CANARY = "CANARY-oauth-7d1e"
SECRET = {
    "username": "alice@acme.test",
    "client_id": "client-1",
    "client_secret": f"cs-{CANARY}",
    "refresh_token": f"rt-{CANARY}",
}


def mailbox(
    oauth2: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
    imap: dict[str, Any] | None = None,
) -> MailboxSpec:
    creds = credentials or {"vaultPath": "mailboxes/a"}
    body: dict[str, Any] = {
        "address": "a@acme-mail.test",
        "smtp": {"host": "smtp.acme-mail.test"},
        "credentials": {**creds, **({"oauth2": oauth2} if oauth2 else {})},
    }
    if imap is not None:
        body["imap"] = imap
    return MailboxSpec.model_validate(body)


GOOGLE = {"provider": "google"}


class FakeVault(VaultKV):
    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        super().__init__(VaultConfig(addr="http://vault:8200", token="t", mount="kv"))
        self.answer = answer
        self.reads = 0

    def read_version(self, path: str) -> tuple[dict[str, Any], int | None]:
        self.reads += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer, 4


class FakeKube:
    def __init__(self, data: dict[str, Any] | None) -> None:
        self.data = data

    async def read_secret_keys(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.data


async def verdict(
    spec: MailboxSpec, vault: VaultKV, kube: Any = None, policy: CredentialPolicy | None = None
) -> tuple[bool, str, str, int | None]:
    c = await check_credentials(spec, "ns", vault, kube or FakeKube(None), policy or CredentialPolicy())
    return c.ok, c.reason, c.message, c.version


async def test_an_oauth2_secret_without_a_password_is_verified() -> None:
    ok, reason, message, version = await verdict(mailbox(GOOGLE), FakeVault(SECRET))
    assert (ok, reason, version) == (True, "Verified", 4)
    assert "refresh token" in message and CANARY not in message


@pytest.mark.parametrize("key", ["username", "client_id", "client_secret", "refresh_token"])
async def test_an_oauth2_secret_lacking_a_key_names_the_key_and_no_value(key: str) -> None:
    secret = {**{k: v for k, v in SECRET.items() if k != key}, "password": f"pw-{CANARY}"}
    ok, reason, message, _ = await verdict(mailbox(GOOGLE), FakeVault(secret))
    assert (ok, reason) == (False, "SecretIncomplete")
    assert message == f"Vault pot/ns/mailboxes/a lacks {key}" and CANARY not in message


async def test_a_password_secret_is_incomplete_for_an_oauth2_mailbox() -> None:
    ok, reason, message, _ = await verdict(
        mailbox(GOOGLE), FakeVault({"username": "alice", "password": f"pw-{CANARY}"})
    )
    assert not ok and reason == "SecretIncomplete"
    assert message.endswith("lacks client_id and client_secret and refresh_token")


async def test_a_missing_oauth2_secret_says_which_keys_to_write() -> None:
    ok, reason, message, _ = await verdict(mailbox(GOOGLE), FakeVault(SecretNotFound("x")))
    assert (ok, reason) == (False, "SecretMissing")
    assert message.endswith("keys username, client_id, client_secret and refresh_token")


async def test_an_oauth2_kubernetes_secret_is_checked_for_the_same_keys() -> None:
    spec = mailbox(GOOGLE, credentials={"secretRef": {"name": "mb-a", "usernameKey": "user"}})
    data = {**{k: v.encode() for k, v in SECRET.items() if k != "username"}, "user": b"alice"}
    assert (await verdict(spec, FakeVault({}), FakeKube(data)))[:2] == (True, "Verified")
    del data["refresh_token"]
    ok, reason, message, _ = await verdict(spec, FakeVault({}), FakeKube(data))
    assert (ok, reason, message) == (False, "SecretIncomplete", "Secret mb-a lacks refresh_token")


def test_an_http_token_url_is_refused_unless_the_admin_allows_cleartext() -> None:
    spec = mailbox({"provider": "custom", "tokenUrl": "http://oauth.acme.test/token"})
    refused = refusal(spec, "ns", CredentialPolicy())
    assert refused is not None and refused.reason == "PlaintextAuthNotAllowed"
    assert "oauth2.tokenUrl http://oauth.acme.test/token" in refused.message
    assert refusal(spec, "ns", CredentialPolicy(allow_plaintext_auth=True)) is None
    https = mailbox({"provider": "custom", "tokenUrl": "https://oauth.acme.test/token"})
    assert refusal(https, "ns", CredentialPolicy()) is None


def test_imap_without_tls_is_refused_with_credentials_unless_allowed() -> None:
    spec = mailbox(imap={"host": "imap.acme-mail.test", "port": 143, "tlsMode": "none"})
    refused = refusal(spec, "ns", CredentialPolicy())
    assert refused is not None and refused.reason == "PlaintextAuthNotAllowed"
    assert refused.message.startswith("imap.tlsMode none")
    assert refusal(spec, "ns", CredentialPolicy(allow_plaintext_auth=True)) is None
    assert refusal(mailbox(imap={"host": "imap.acme-mail.test"}), "ns", CredentialPolicy()) is None


async def test_a_refused_token_url_reads_nothing() -> None:
    vault = FakeVault(SECRET)
    spec = mailbox({"provider": "custom", "tokenUrl": "http://oauth.acme.test/token"})
    ok, reason, _, _ = await verdict(spec, vault)
    assert (ok, reason, vault.reads) == (False, "PlaintextAuthNotAllowed", 0)
