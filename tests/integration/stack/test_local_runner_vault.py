"""The local runner gives a worker whose Deployment names a Vault role what the kubelet would: its
ServiceAccount's token in a private file, and no Vault token, no admin kubeconfig, the workers' own
database URL (pot_stack.local_runner; the TokenRequest answered in memory here, by the real apiserver
in tests/e2e/vault)."""

from __future__ import annotations

import json
import stat
import sys
import time
from pathlib import Path

import pytest
from pot_operator.config import Settings
from pot_operator.manifests import PoolRef, WorkerSettings, build_worker_deployment
from pot_stack.local_runner import Runner, container_env, process_env, service_account_token_wanted

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def deployment(**settings: str) -> dict:  # type: ignore[type-arg]
    values = {"vault_addr": "http://127.0.0.1:8200", "worker_secret": "pot-env", **settings}
    return build_worker_deployment(
        PoolRef("acme", "outreach", "uid"), WorkerSettings(replicas=1), Settings(**values)
    )  # type: ignore[arg-type]


STACK = {
    "POT_DATABASE_URL": "postgresql://postgres@h/db",
    "POT_WORKER_DATABASE_URL": "postgresql://pot_worker@h/db",
    "POT_REDIS_URL": "redis://h",
    "POT_VAULT_TOKEN": "root-token",
    "POT_OPERATOR_VAULT_TOKEN": "operator-token",
    "KUBECONFIG": "/admin/kubeconfig",
    "POT_SMTP_CA_FILE": "/ca.pem",
}


def test_a_role_means_a_service_account_token_and_no_vault_token() -> None:
    d = deployment(worker_vault_role="pot-worker")
    env = container_env(d, STACK)
    assert env["POT_VAULT_ROLE"] == "pot-worker" and "POT_VAULT_TOKEN" not in env
    assert env["POT_DATABASE_URL"] == "postgresql://pot_worker@h/db"  # the workers' own role
    assert service_account_token_wanted(d, env) == "pot-worker"
    worker = process_env(STACK, env)
    assert not {"POT_VAULT_TOKEN", "POT_OPERATOR_VAULT_TOKEN", "KUBECONFIG", "POT_WORKER_DATABASE_URL"} & set(
        worker
    )
    assert worker["POT_SMTP_CA_FILE"] == "/ca.pem" and worker["POT_DATABASE_URL"].startswith(
        "postgresql://pot_worker@"
    )


def test_token_auth_keeps_the_token_the_deployment_asks_for() -> None:
    d = deployment()  # no role anywhere: the token comes by Secret reference
    env = container_env(d, STACK)
    assert env["POT_VAULT_TOKEN"] == "root-token"
    assert service_account_token_wanted(d, env) is None
    assert process_env(STACK, env)["POT_VAULT_TOKEN"] == "root-token"


def test_no_token_when_the_pod_spec_turns_it_off() -> None:
    d = deployment(worker_vault_role="pot-worker")
    d["spec"]["template"]["spec"]["automountServiceAccountToken"] = False
    assert service_account_token_wanted(d, container_env(d, STACK)) is None


def test_the_runner_writes_a_private_token_renews_it_and_records_names_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in STACK.items():
        monkeypatch.setenv(key, value)
    issued: list[tuple[str, str]] = []

    def tokens(namespace: str, account: str) -> str:
        issued.append((namespace, account))
        return f"jwt-{len(issued)}"

    runner = Runner(tmp_path, SLEEPER, tokens=tokens)
    try:
        runner.reconcile([deployment(worker_vault_role="pot-worker")])
        [entry] = json.loads((tmp_path / "workers.json").read_text())
        token = Path(entry["token_file"])
        assert issued == [("acme", "pot-worker")] and token.read_text() == "jwt-1"
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
        environ = Path(f"/proc/{entry['pid']}/environ").read_bytes().decode()
        assert "root-token" not in environ and "operator-token" not in environ
        assert f"POT_VAULT_JWT_PATH={token}" in environ.split("\0")
        assert "POT_VAULT_TOKEN" not in entry["env"] and "POT_VAULT_ROLE" in entry["env"]
        assert "root-token" not in (tmp_path / "workers.json").read_text()
        # Past 80% of its life the token is replaced in place, as the kubelet does.
        w = next(iter(runner.workers.values()))
        w.tokens[entry["pid"]].written_at = time.monotonic() - 3600
        runner.reconcile([deployment(worker_vault_role="pot-worker")])
        assert token.read_text() == "jwt-2" and len(issued) == 2
    finally:
        runner.shutdown()
    assert not token.exists()  # gone with its process, as a pod's volume is
