"""Unit tests for the local runner: env resolution and keeping process counts at spec.replicas."""

import sys
from pathlib import Path

from pot_operator.config import Settings
from pot_operator.manifests import PoolRef, WorkerSettings, build_worker_deployment
from pot_stack.local_runner import Runner, container_env

SETTINGS = Settings(vault_addr="http://127.0.0.1:8200", worker_secret="s")


def deployment(replicas: int, image: str | None = None) -> dict:  # type: ignore[type-arg]
    return build_worker_deployment(
        PoolRef("ns", "p", "uid"), WorkerSettings(replicas=replicas, image=image), SETTINGS
    )


def test_env_takes_values_and_resolves_secret_refs_from_the_stack() -> None:
    env = container_env(deployment(1), {"POT_DATABASE_URL": "postgresql://local", "OTHER": "x"})
    assert env["POT_POOL"] == "ns/p"
    assert env["POT_DATABASE_URL"] == "postgresql://local"
    assert "POT_REDIS_URL" not in env  # not in the stack's env: left out rather than invented
    assert "OTHER" not in env


def test_runner_keeps_replicas_processes_and_stops_them(tmp_path: Path) -> None:
    runner = Runner(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runner.reconcile([deployment(2)])
        assert runner.count() == {("ns", "pot-worker-p"): 2}
        runner.reconcile([deployment(1)])
        assert runner.count() == {("ns", "pot-worker-p"): 1}
        first = runner.workers[("ns", "pot-worker-p")].procs[0].pid
        runner.reconcile([deployment(1)])
        assert runner.workers[("ns", "pot-worker-p")].procs[0].pid == first  # nothing changed: kept
        runner.reconcile([])
        assert runner.count() == {}
    finally:
        runner.shutdown()


def test_runner_restarts_a_crashed_worker(tmp_path: Path) -> None:
    runner = Runner(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runner.reconcile([deployment(1)])
        proc = runner.workers[("ns", "pot-worker-p")].procs[0]
        proc.kill()
        proc.wait()
        runner.reconcile([deployment(1)])
        assert runner.count() == {("ns", "pot-worker-p"): 1}
        assert runner.workers[("ns", "pot-worker-p")].procs[0].pid != proc.pid
    finally:
        runner.shutdown()
