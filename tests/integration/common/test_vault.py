"""pot_common.vault against a real OpenBao: values, and each kind of failure as its own error."""

from __future__ import annotations

import pytest
from pot_common.vault import (
    SecretNotFound,
    VaultConfig,
    VaultForbidden,
    VaultKV,
    VaultNotConfigured,
    VaultUnavailable,
)
from pot_stack.openbao import OpenBao
from pot_stack.service import free_port


def test_reads_the_latest_version(vault: OpenBao) -> None:
    kv_v2 = vault.client().secrets.kv.v2
    kv_v2.create_or_update_secret(path="common/one", secret={"username": "u", "password": "p1"})
    kv_v2.create_or_update_secret(path="common/one", secret={"username": "u", "password": "p2"})
    kv = VaultKV(VaultConfig(addr=vault.addr, token=vault.token, mount=vault.mount))
    assert kv.read("common/one") == {"username": "u", "password": "p2"}


async def test_missing_and_deleted_secrets_are_not_found(vault: OpenBao) -> None:
    client = vault.client()
    client.secrets.kv.v2.create_or_update_secret(path="common/gone", secret={"password": "x"})
    client.secrets.kv.v2.delete_latest_version_of_secret(path="common/gone")
    kv = VaultKV(VaultConfig(addr=vault.addr, token=vault.token, mount=vault.mount))
    for path in ("common/never-written", "common/gone"):
        with pytest.raises(SecretNotFound, match=path):
            await kv.read_async(path)


def test_a_policy_that_does_not_cover_the_path_is_forbidden(vault: OpenBao) -> None:
    client = vault.client()
    client.sys.create_or_update_policy(
        name="common-only-mine", policy='path "secret/data/common/mine/*" { capabilities = ["read"] }'
    )
    token = client.auth.token.create(policies=["common-only-mine"], ttl="5m")["auth"]["client_token"]
    client.secrets.kv.v2.create_or_update_secret(path="common/theirs/canary", secret={"password": "canary"})
    kv = VaultKV(VaultConfig(addr=vault.addr, token=token, mount=vault.mount))
    with pytest.raises(VaultForbidden) as caught:
        kv.read("common/theirs/canary")
    assert "canary" not in str(caught.value).replace("common/theirs/canary", "")


def test_an_address_nobody_answers_is_unavailable_not_bad() -> None:
    kv = VaultKV(VaultConfig(addr=f"http://127.0.0.1:{free_port()}", token="t", timeout=1))
    with pytest.raises(VaultUnavailable):
        kv.read("anything")


def test_without_address_or_credentials_it_says_so() -> None:
    with pytest.raises(VaultNotConfigured):
        VaultKV(VaultConfig()).read("x")
    with pytest.raises(VaultNotConfigured):
        VaultKV(VaultConfig(addr="http://127.0.0.1:1")).read("x")
    assert not VaultConfig(addr="http://v").configured
    assert VaultConfig(addr="http://v", role="r").configured


def test_writes_new_versions_and_deletes_every_version(vault: OpenBao) -> None:
    kv = VaultKV(VaultConfig(addr=vault.addr, token=vault.token, mount=vault.mount))
    first = kv.write("common/written", {"username": "u", "password": "p1"})
    second = kv.write("common/written", {"username": "u", "password": "p2"})
    assert first is not None and second == first + 1
    assert kv.read_version("common/written") == ({"username": "u", "password": "p2"}, second)
    kv.delete("common/written")
    with pytest.raises(SecretNotFound):
        kv.read("common/written")
    kv.delete("common/written")  # nothing left: not an error
    assert kv.write("common/written", {"password": "p3"}) == 1  # the metadata went too


def test_a_policy_that_does_not_allow_writing_is_forbidden_without_the_value(vault: OpenBao) -> None:
    client = vault.client()
    client.sys.create_or_update_policy(
        name="common-read-only", policy='path "secret/data/common/ro/*" { capabilities = ["read"] }'
    )
    token = client.auth.token.create(policies=["common-read-only"], ttl="5m")["auth"]["client_token"]
    kv = VaultKV(VaultConfig(addr=vault.addr, token=token, mount=vault.mount))
    with pytest.raises(VaultForbidden) as caught:
        kv.write("common/ro/x", {"password": "canary-write"})
    assert "canary-write" not in str(caught.value)
    with pytest.raises(VaultForbidden):
        kv.delete("common/ro/x")
