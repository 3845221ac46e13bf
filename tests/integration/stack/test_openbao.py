"""The stack's OpenBao: its audit log, the persistent mode the outage tests stop and start, and POT's
policies (pot_stack.openbao), read through pot_common.vault as the operator and the worker read."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pot_common.vault import VaultConfig, VaultForbidden, VaultKV, VaultUnavailable
from pot_stack.openbao import OpenBao, operator_policy, pot_roles, worker_policy


@pytest.fixture(scope="module")
def persistent_bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    bao = OpenBao(tmp_path_factory.mktemp("bao"), persistent=True)
    bao.start()
    try:
        yield bao
    finally:
        bao.stop()


def kv(bao: OpenBao, token: str | None = None) -> VaultKV:
    return VaultKV(VaultConfig(addr=bao.addr, token=token or bao.token, mount=bao.mount, timeout=2))


def test_every_request_is_audited_without_the_secret(vault: OpenBao) -> None:
    vault.put_secret("pot/audit/alice", {"username": "alice", "password": "audit-canary-31337"})
    assert kv(vault).read("pot/audit/alice")["password"] == "audit-canary-31337"
    lines = [json.loads(line) for line in vault.audit_log.read_text().splitlines()]
    assert any(e.get("request", {}).get("path") == "secret/data/pot/audit/alice" for e in lines)
    text = vault.audit_log.read_text()
    assert "audit-canary-31337" not in text and vault.token not in text  # values are HMAC'd


def test_persistent_mode_comes_back_sealed_then_with_the_same_data_and_tokens(
    persistent_bao: OpenBao,
) -> None:
    bao = persistent_bao
    version = bao.put_secret("pot/acme/mailboxes/alice", {"username": "alice", "password": "pw"})
    reader = kv(bao)
    assert reader.read_version("pot/acme/mailboxes/alice") == (
        {"username": "alice", "password": "pw"},
        version,
    )
    bao.stop()
    with pytest.raises(VaultUnavailable, match="did not answer"):
        reader.read("pot/acme/mailboxes/alice")
    began = time.monotonic()
    bao.start()
    assert time.monotonic() - began < 30
    assert reader.read_version("pot/acme/mailboxes/alice")[1] == version  # same data, same token


def test_a_sealed_vault_is_unavailable_not_forbidden(persistent_bao: OpenBao) -> None:
    bao = persistent_bao
    bao.put_secret("pot/acme/mailboxes/bob", {"username": "bob", "password": "pw"})
    reader = kv(bao)
    bao.seal()
    try:
        with pytest.raises(VaultUnavailable):
            reader.read("pot/acme/mailboxes/bob")
    finally:
        bao.unseal()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            assert reader.read("pot/acme/mailboxes/bob")["username"] == "bob"
            break
        except VaultUnavailable:
            time.sleep(0.2)
    else:
        pytest.fail("OpenBao did not come back after unseal")


def test_the_operator_policy_reads_every_tenant_and_nothing_else(vault: OpenBao) -> None:
    vault.request("PUT", "sys/policies/acl/pot-operator-test", {"policy": operator_policy()})
    token = vault.request("POST", "auth/token/create", {"policies": ["pot-operator-test"]})["auth"][
        "client_token"
    ]
    vault.put_secret("pot/acme/mailboxes/alice", {"username": "a", "password": "p"})
    vault.put_secret("elsewhere/thing", {"username": "a", "password": "p"})
    operator = kv(vault, token)
    assert operator.read("pot/acme/mailboxes/alice")["username"] == "a"
    with pytest.raises(VaultForbidden):
        operator.read("elsewhere/thing")


def test_the_worker_policy_and_roles_confine_a_worker_to_its_namespace() -> None:
    policy = worker_policy("auth_kubernetes_1234", mount="secret", prefix="pot")
    namespace = "{{identity.entity.aliases.auth_kubernetes_1234.metadata.service_account_namespace}}"
    expected = f"secret/data/pot/{namespace}/*"
    assert f'path "{expected}"' in policy and '["read"]' in policy
    roles = pot_roles()
    assert roles["pot-worker"]["bound_service_account_names"] == ["pot-worker"]
    assert roles["pot-worker"]["token_policies"] == ["pot-worker"]
    assert roles["pot-operator"]["bound_service_account_namespaces"] == ["pot-system"]


def test_the_root_token_stays_out_of_the_logs(persistent_bao: OpenBao, tmp_path: Path) -> None:
    assert persistent_bao.token not in persistent_bao.log_path.read_text()
    assert (persistent_bao.dir / "init.json").stat().st_mode & 0o077 == 0
