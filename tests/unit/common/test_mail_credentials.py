"""pot_common.mail_credentials: a mailbox row's login, password or OAuth2 (Vault and the token endpoint
answered in memory): which endpoint and scope, what a refusal means, what is cached, no value leaks."""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

import httpx
import pytest
from pot_common.mail_credentials import (
    OAUTH2,
    AuthRef,
    CredentialsError,
    CredentialStore,
    Login,
    LoginRefused,
    TokenUnavailable,
    missing_keys,
)
from pot_common.oauth import TokenClient
from pot_common.providers import GOOGLE_TOKEN_URL, SCOPES
from pot_common.vault import VaultConfig
from pydantic import SecretStr

CLIENT_SECRET = "cs-CANARY-93b1"
REFRESH = "rt-CANARY-0c4d"
OAUTH_SECRET = {
    "username": "alice@acme.test",
    "client_id": "client-1",
    "client_secret": CLIENT_SECRET,
    "refresh_token": REFRESH,
}


class FakeVault:
    """VaultKV's read_version_async over a dict; each secret's version is bumped by `rotate`."""

    def __init__(self, secrets: dict[str, Any]) -> None:
        self.secrets = secrets
        self.versions = dict.fromkeys(secrets, 1)
        self.config = VaultConfig(addr="http://vault.test", token="t", mount="kv")
        self.reads = 0

    async def read_version_async(self, path: str) -> tuple[dict[str, Any], int | None]:
        self.reads += 1
        return dict(self.secrets[path]), self.versions[path]

    def rotate(self, path: str, **changes: str) -> None:
        self.secrets[path] = {**self.secrets[path], **changes}
        self.versions[path] += 1


class TokenEndpoint:
    """Answers token requests: `status`/`body` per request; records URL and form."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.status = 200
        self.body: dict[str, Any] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = dict(urllib.parse.parse_qsl(request.content.decode()))
        self.requests.append((str(request.url), form))
        body = self.body or {"access_token": f"at-{len(self.requests)}", "expires_in": 3600}
        return httpx.Response(self.status, json=body)


def make(secrets: dict[str, Any]) -> tuple[CredentialStore, FakeVault, TokenEndpoint]:
    vault, endpoint = FakeVault(secrets), TokenEndpoint()
    tokens = TokenClient(httpx.AsyncClient(transport=httpx.MockTransport(endpoint)))
    return CredentialStore(vault, ttl=300, tokens=tokens), vault, endpoint  # type: ignore[arg-type]


def row(ref: str = "vault:pot/a", provider: str | None = "google", url: str | None = None) -> dict[str, Any]:
    return {
        "credentials_ref": ref,
        "auth_mechanism": OAUTH2,
        "oauth_provider": provider,
        "oauth_token_url": url,
    }


async def test_a_password_mailbox_logs_in_with_its_password() -> None:
    store, _, endpoint = make({"pot/a": {"username": "bob", "password": "pw"}})
    login = await store.for_row({"credentials_ref": "vault:pot/a", "auth_mechanism": "password"})
    assert login == Login.with_password("bob", SecretStr("pw"), 1)
    assert login.mechanism == "password" and login.secret() == "pw" and not endpoint.requests


async def test_an_oauth2_mailbox_gets_an_access_token_from_googles_endpoint_with_its_scope() -> None:
    store, _, endpoint = make({"pot/a": OAUTH_SECRET})
    login = await store.for_row(row())
    assert login is not None and login.is_oauth2 and login.username == "alice@acme.test"
    assert login.password is None and login.secret() == "at-1" and login.version == 1
    assert base64.b64decode(login.xoauth2()) == b"user=alice@acme.test\x01auth=Bearer at-1\x01\x01"
    url, form = endpoint.requests[0]
    assert url == GOOGLE_TOKEN_URL and form["scope"] == SCOPES["google"]
    assert form["client_id"] == "client-1" and form["refresh_token"] == REFRESH
    assert CLIENT_SECRET not in repr(login) and "at-1" not in repr(login)


async def test_microsoft_uses_the_secrets_tenant_and_custom_its_token_url() -> None:
    store, _, endpoint = make({"pot/ms": {**OAUTH_SECRET, "tenant": "contoso.test"}, "pot/c": OAUTH_SECRET})
    await store.for_row(row("vault:pot/ms", "microsoft"))
    await store.for_row(row("vault:pot/c", "custom", "http://127.0.0.1:9/token"))
    (ms_url, ms_form), (custom_url, custom_form) = endpoint.requests
    assert ms_url == "https://login.microsoftonline.com/contoso.test/oauth2/v2.0/token"
    assert ms_form["scope"] == SCOPES["microsoft"]
    assert custom_url == "http://127.0.0.1:9/token" and "scope" not in custom_form


async def test_custom_without_a_token_url_is_a_credentials_error() -> None:
    store, _, _ = make({"pot/a": OAUTH_SECRET})
    with pytest.raises(CredentialsError, match=r"needs oauth2\.tokenUrl"):
        await store.for_row(row(provider="custom"))


async def test_an_incomplete_oauth2_secret_names_the_missing_keys_and_no_value() -> None:
    store, _, endpoint = make({"pot/a": {"username": "alice", "password": "pw-CANARY", "client_id": "c"}})
    with pytest.raises(CredentialsError, match="lacks client_secret, refresh_token") as caught:
        await store.for_row(row())
    assert "pw-CANARY" not in str(caught.value) and not endpoint.requests


def test_missing_keys_by_mechanism() -> None:
    assert missing_keys({"username": "u", "password": "p"}, "password") == []
    assert missing_keys({"username": "u", "password": "p"}, OAUTH2) == [
        "client_id",
        "client_secret",
        "refresh_token",
    ]
    assert missing_keys({**OAUTH_SECRET, "refresh_token": ""}, OAUTH2) == ["refresh_token"]


async def test_a_revoked_refresh_token_is_login_refused_with_the_secrets_version() -> None:
    store, _, endpoint = make({"pot/a": OAUTH_SECRET})
    endpoint.status, endpoint.body = (
        400,
        {"error": "invalid_grant", "error_description": f"{REFRESH} revoked"},
    )
    with pytest.raises(LoginRefused, match="invalid_grant") as caught:
        await store.for_row(row())
    assert caught.value.version == 1
    assert REFRESH not in str(caught.value) and CLIENT_SECRET not in str(caught.value)


async def test_an_endpoint_that_is_away_is_temporary_not_a_refusal() -> None:
    store, _, endpoint = make({"pot/a": OAUTH_SECRET})
    endpoint.status, endpoint.body = 503, {"error": "temporarily_unavailable"}
    with pytest.raises(TokenUnavailable):
        await store.for_row(row())


async def test_the_token_is_reused_until_forgotten_and_a_refresh_is_the_same_secret() -> None:
    store, vault, endpoint = make({"pot/a": OAUTH_SECRET})
    first = await store.for_row(row())
    assert await store.for_row(row()) == first and len(endpoint.requests) == 1 and vault.reads == 1
    store.forget_token("vault:pot/a")
    refreshed = await store.for_row(row())
    assert refreshed is not None and refreshed.secret() == "at-2" and vault.reads == 1
    assert refreshed.same_secret(first)  # an open session need not log in again


async def test_a_rotated_secret_gets_a_new_token_from_the_new_refresh_token() -> None:
    store, vault, endpoint = make({"pot/a": OAUTH_SECRET})
    first = await store.for_row(row())
    vault.rotate("pot/a", refresh_token="rt-new")
    store.forget("vault:pot/a")  # what the cache's lifetime does
    second = await store.for_row(row())
    assert second is not None and second.version == 2 and not second.same_secret(first)
    assert endpoint.requests[-1][1]["refresh_token"] == "rt-new"


async def test_a_mailbox_row_without_oauth_columns_is_a_password_mailbox() -> None:
    assert AuthRef.from_row({"credentials_ref": "vault:x"}) == AuthRef("vault:x", "password", None, None)
    store, _, _ = make({})
    assert await store.for_row({"credentials_ref": None}) is None
