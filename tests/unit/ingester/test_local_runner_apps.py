"""The local runner runs ingester Deployments as `pot-ingester` and worker ones as `pot-worker`, and
gives the ingester the stack's IMAP certificate to trust."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pot_stack import local_runner
from pot_stack.local_runner import INGESTER_APP, WORKER_APP, Runner, app_of, stack_aliases


def deployment(name: str, app: str | None, replicas: int = 1) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": app} if app else {}
    return {
        "metadata": {"namespace": "acme", "name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"env": [{"name": "POT_POOL", "value": "acme/p"}]}]}},
        },
    }


def test_the_app_label_names_the_program() -> None:
    assert app_of(deployment("a", INGESTER_APP)) == INGESTER_APP
    assert app_of(deployment("b", WORKER_APP)) == WORKER_APP
    assert app_of(deployment("c", None)) == WORKER_APP  # unlabelled: as before


def test_the_ingester_trusts_the_stack_imap_certificate_unless_its_deployment_says() -> None:
    stack = {"POT_STACK_IMAP_CA_FILE": "/tmp/imap.pem"}
    assert stack_aliases(INGESTER_APP, stack, {}) == {"POT_IMAP_CA_FILE": "/tmp/imap.pem"}
    assert stack_aliases(INGESTER_APP, stack, {"POT_IMAP_CA_FILE": "/own.pem"}) == {}
    assert stack_aliases(WORKER_APP, stack, {}) == {}
    assert stack_aliases(INGESTER_APP, {}, {}) == {}


def test_each_deployment_runs_its_own_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []

    class Proc:
        pid = 4242

        def poll(self) -> None:
            return None

    def popen(command: list[str], **_: Any) -> Proc:
        started.append(command)
        return Proc()

    monkeypatch.setattr(local_runner.subprocess, "Popen", popen)
    monkeypatch.setattr(local_runner, "kill_group", lambda *a, **k: None)
    runner = Runner(tmp_path, ["worker-cmd"], commands={INGESTER_APP: ["ingester-cmd"]})
    runner.reconcile([deployment("pot-worker-p", WORKER_APP), deployment("pot-ingester-p", INGESTER_APP)])
    assert sorted(started) == [["ingester-cmd"], ["worker-cmd"]]
    assert (tmp_path / "workers.json").exists()
