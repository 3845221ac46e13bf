"""Runs worker Deployments as local processes (the local stack has no nodes); started by `make up`.

`python -m pot_stack.local_runner --root .pot` watches Deployments labelled
app.kubernetes.io/name=pot-worker and keeps, for each, as many `pot-worker` processes as its
spec.replicas, with the container's environment: literal values as written, and values the
Deployment takes from a Secret (database and Redis URLs, the Vault token) from this process's own
POT_* environment, the local stack's. The operator never knows the difference. Logs go to
<root>/logs/workers/<namespace>-<deployment>-<n>.log.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pot_stack.service import Service, free_port, kill_group

log = logging.getLogger("pot_stack.local_runner")
SELECTOR = "app.kubernetes.io/name=pot-worker"


def container_env(deployment: dict[str, Any], own_env: dict[str, str]) -> dict[str, str]:
    """The first container's env, resolved for a local process.

    Secret references resolve to the same-named variable of `own_env` (the local stack's POT_*),
    since the local stack has no Secret holding them; ConfigMap and field references are skipped.
    """
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}]
    env: dict[str, str] = {}
    for item in containers[0].get("env") or []:
        name = item.get("name")
        if not name:
            continue
        if "value" in item and item["value"] is not None:
            env[name] = str(item["value"])
        elif (item.get("valueFrom") or {}).get("secretKeyRef") and name in own_env:
            env[name] = own_env[name]
    return env


@dataclass
class Workers:
    """The processes of one Deployment and the environment they were started with."""

    fingerprint: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)


class Runner:
    def __init__(self, root: Path, command: list[str]) -> None:
        self.root = root
        self.command = command
        self.logs = root / "logs" / "workers"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.workers: dict[tuple[str, str], Workers] = {}

    def reconcile(self, deployments: list[dict[str, Any]]) -> None:
        """Converge the local processes on the listed Deployments (level-based; called on every poll)."""
        seen = set()
        for d in deployments:
            meta = d.get("metadata", {})
            key = (meta.get("namespace", ""), meta.get("name", ""))
            seen.add(key)
            replicas = int(d.get("spec", {}).get("replicas") or 0)
            env = container_env(d, dict(os.environ))
            fingerprint = hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()
            w = self.workers.setdefault(key, Workers())
            if w.fingerprint != fingerprint:
                # A changed pod template means a rollout: replace every process.
                self._stop_all(w)
                w.fingerprint = fingerprint
            w.procs = [p for p in w.procs if p.poll() is None]
            while len(w.procs) > replicas:
                self._stop(w.procs.pop())
            while len(w.procs) < replicas:
                w.procs.append(self._start(key, len(w.procs), env))
        for key in [k for k in self.workers if k not in seen]:
            self._stop_all(self.workers.pop(key))

    def _start(self, key: tuple[str, str], index: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log_path = self.logs / f"{key[0]}-{key[1]}-{index}.log"
        out = log_path.open("ab")
        # Each pod would have its own IP; local processes share one, so each gets its own metrics port.
        proc = subprocess.Popen(
            self.command,
            env={**os.environ, **env, "POT_METRICS_PORT": str(free_port())},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        log.info("Started worker: deployment=%s/%s pid=%d", key[0], key[1], proc.pid)
        return proc

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        # Workers drain in-flight sends on SIGTERM; kill_group escalates only after the grace period.
        kill_group(proc.pid, timeout=30)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)

    def _stop_all(self, w: Workers) -> None:
        for proc in w.procs:
            self._stop(proc)
        w.procs.clear()

    def count(self) -> dict[tuple[str, str], int]:
        return {k: sum(1 for p in w.procs if p.poll() is None) for k, w in self.workers.items()}

    def shutdown(self) -> None:
        for w in self.workers.values():
            self._stop_all(w)


def list_worker_deployments(apps: Any) -> list[dict[str, Any]]:
    result = apps.list_deployment_for_all_namespaces(label_selector=SELECTOR)
    items: list[dict[str, Any]] = apps.api_client.sanitize_for_serialization(result).get("items") or []
    return items


def run(root: Path, interval: float, command: list[str]) -> None:
    from kubernetes import client, config

    config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or str(root / "kubeconfig"))
    apps = client.AppsV1Api()
    runner = Runner(root, command)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            try:
                runner.reconcile(list_worker_deployments(apps))
            except Exception:  # the API server may restart under `make up`; try again next poll
                log.exception("Listed worker Deployments failed")
            time.sleep(interval)
    finally:
        runner.shutdown()


# The local stack retries temporary failures within seconds, not minutes, and half-opens circuits
# quickly, so a campaign with deferrals completes while a person watches (`make demo`). Production
# defaults live in pot_worker.config; a Deployment's own env still wins over these.
LOCAL_WORKER_DEFAULTS = {
    "POT_RETRY_BASE_SECONDS": "3",
    "POT_RETRY_CAP_SECONDS": "20",
    "POT_MAX_ATTEMPTS": "3",
    "POT_BREAKER_COOLOFF_SECONDS": "10",
}


class LocalRunnerService(Service):
    """The runner as a stack app (registered in pot_stack.stack.APPS after the operator)."""

    name = "local-runner"

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        super().__init__(root)
        self.app_env = {**LOCAL_WORKER_DEFAULTS, **env}

    def start(self) -> None:
        self.spawn(
            [sys.executable, "-m", "pot_stack.local_runner", "--root", str(self.root)], env=self.app_env
        )

    def env(self) -> dict[str, str]:
        return {}


class OperatorService(Service):
    """`pot-operator --standalone` as a stack app (registered in pot_stack.stack.APPS)."""

    name = "operator"

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        super().__init__(root)
        self.metrics_port = free_port()
        self.app_env = {**env, "POT_METRICS_PORT": str(self.metrics_port)}

    def start(self) -> None:
        self.spawn([sys.executable, "-m", "pot_operator.cli", "--standalone"], env=self.app_env)

    def env(self) -> dict[str, str]:
        return {"POT_OPERATOR_METRICS_URL": f"http://127.0.0.1:{self.metrics_port}/metrics"}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="pot_stack.local_runner", description=__doc__)
    p.add_argument("--root", type=Path, default=Path(".pot"), help="The local stack's folder.")
    p.add_argument("--interval", type=float, default=1.0, help="Seconds between polls of the Deployments.")
    p.add_argument(
        "--command",
        nargs="+",
        default=[sys.executable, "-m", "pot_worker.cli"],
        help="The worker command line.",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    run(args.root, args.interval, args.command)


if __name__ == "__main__":
    main()
