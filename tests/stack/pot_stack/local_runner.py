"""Runs worker and ingester Deployments as local processes (the local stack has no nodes); started by
`make up`.

`python -m pot_stack.local_runner --root .pot` watches Deployments labelled
app.kubernetes.io/name=pot-worker or pot-ingester and keeps, for each, as many `pot-worker` (or
`pot-ingester`) processes as its spec.replicas, with the container's environment: literal values as
written, and values the
Deployment takes from a Secret (database and Redis URLs, the Vault token) from this process's own
POT_* environment, the local stack's (the database URL as the least-privileged `pot_worker` role
when the stack made one). The operator never knows the difference. Logs go to
<root>/logs/workers/<namespace>-<deployment>-<n>.log.

A Deployment that names a Vault role (POT_VAULT_ROLE) gets what the kubelet would give its pods: a
real token of its ServiceAccount from the apiserver (TokenRequest; the ServiceAccount is created
when missing), in a 0600 file passed as POT_VAULT_JWT_PATH and renewed before it expires, and no
Vault token at all: Vault's kubernetes auth and the apiserver's TokenReview decide what it reads.
What each process was started with (names, never values) is recorded in <root>/workers.json.
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
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pot_stack.service import Service, free_port, kill_group

log = logging.getLogger("pot_stack.local_runner")
WORKER_APP, INGESTER_APP = "pot-worker", "pot-ingester"
SELECTOR = f"app.kubernetes.io/name in ({WORKER_APP},{INGESTER_APP})"
# The local stack's variable a Secret reference resolves to, when it differs from the reference's own
# name: workers reach Postgres as the `pot_worker` role, not as the stack's superuser.
SECRET_SOURCES = {"POT_DATABASE_URL": "POT_WORKER_DATABASE_URL"}
# The local stack's own variables a pod never sees: the admin kubeconfig, the superuser and operator
# credentials. POT_VAULT_TOKEN goes too once the Deployment names a Vault role (see process_env).
STACK_ONLY = ("KUBECONFIG", "POT_WORKER_DATABASE_URL", "POT_OPERATOR_VAULT_TOKEN")
# The local stack's variables a program gets under its own name, when its Deployment does not set it: the
# IMAP server's self-signed certificate is what the ingester must trust (a cluster would mount a CA).
STACK_ALIASES = {INGESTER_APP: {"POT_IMAP_CA_FILE": "POT_STACK_IMAP_CA_FILE"}}
TOKEN_SECONDS = 3600  # what the kubelet asks for a projected token
TOKEN_RENEW_AFTER = 0.8  # of its lifetime, as the kubelet renews


def container_env(deployment: dict[str, Any], own_env: Mapping[str, str]) -> dict[str, str]:
    """The first container's env, resolved for a local process.

    Secret references resolve to the same-named variable of `own_env` (the local stack's POT_*), or
    to the one SECRET_SOURCES names when the stack set it, since the local stack has no Secret
    holding them; ConfigMap and field references are skipped.
    """
    containers = pod_spec(deployment).get("containers") or [{}]
    env: dict[str, str] = {}
    for item in containers[0].get("env") or []:
        name = item.get("name")
        if not name:
            continue
        if "value" in item and item["value"] is not None:
            env[name] = str(item["value"])
        elif (item.get("valueFrom") or {}).get("secretKeyRef"):
            source = SECRET_SOURCES.get(name, name)
            source = source if source in own_env else name
            if source in own_env:
                env[name] = own_env[source]
    return env


def app_of(deployment: Mapping[str, Any]) -> str:
    """Which program a Deployment runs, by its app.kubernetes.io/name label (pure)."""
    labels = deployment.get("metadata", {}).get("labels") or {}
    return str(labels.get("app.kubernetes.io/name") or WORKER_APP)


def stack_aliases(app: str, stack_env: Mapping[str, str], container: Mapping[str, str]) -> dict[str, str]:
    """The STACK_ALIASES variables for `app` the container does not set itself (pure)."""
    return {
        name: stack_env[source]
        for name, source in STACK_ALIASES.get(app, {}).items()
        if name not in container and source in stack_env
    }


def pod_spec(deployment: Mapping[str, Any]) -> dict[str, Any]:
    return dict(deployment.get("spec", {}).get("template", {}).get("spec", {}))


def service_account_token_wanted(deployment: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """The ServiceAccount whose token the pods get, when they log in to Vault as it (pure).

    None without a Vault role, or when the pod spec turns the token off: a real pod would have none.
    """
    spec = pod_spec(deployment)
    if not env.get("POT_VAULT_ROLE") or spec.get("automountServiceAccountToken") is False:
        return None
    return str(spec.get("serviceAccountName") or "default")


def process_env(stack_env: Mapping[str, str], container: Mapping[str, str]) -> dict[str, str]:
    """A worker process's environment (pure): the stack's settings, the container's on top, minus what
    no pod would hold. With a Vault role the stack's root token is dropped: the worker must log in
    as its ServiceAccount, and a token in its environment would win over the role."""
    env = {k: v for k, v in stack_env.items() if k not in STACK_ONLY}
    if container.get("POT_VAULT_ROLE") and "POT_VAULT_TOKEN" not in container:
        env.pop("POT_VAULT_TOKEN", None)
    env.update(container)
    return env


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with a file only its owner may read (a token must never be half-written)."""
    temp = path.with_suffix(".tmp")
    temp.unlink(missing_ok=True)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    temp.replace(path)


# (namespace, service account) -> a fresh token: the apiserver's TokenRequest in `run`.
TokenIssuer = Callable[[str, str], str]


@dataclass
class ProjectedToken:
    """A process's ServiceAccount token file, as the kubelet projects one into a pod."""

    path: Path
    namespace: str
    service_account: str
    written_at: float


@dataclass
class Workers:
    """The processes of one Deployment, the environment they were started with and their tokens."""

    fingerprint: str = ""
    app: str = WORKER_APP
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    tokens: dict[int, ProjectedToken] = field(default_factory=dict)  # by pid


class Runner:
    def __init__(
        self,
        root: Path,
        command: list[str],
        tokens: TokenIssuer | None = None,
        commands: Mapping[str, list[str]] | None = None,
    ) -> None:
        self.root = root
        self.command = command  # the worker's
        # By app label; a Deployment of another app runs `command` (the worker), as before there were two.
        self.commands = {WORKER_APP: command, **(commands or {})}
        self.tokens = tokens
        self.logs = root / "logs" / "workers"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.token_dir = root / "tokens"
        self.token_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.record = root / "workers.json"
        self.workers: dict[tuple[str, str], Workers] = {}

    def reconcile(self, deployments: list[dict[str, Any]]) -> None:
        """Converge the local processes on the listed Deployments (level-based; called on every poll)."""
        seen = set()
        for d in deployments:
            meta = d.get("metadata", {})
            key = (meta.get("namespace", ""), meta.get("name", ""))
            seen.add(key)
            replicas = int(d.get("spec", {}).get("replicas") or 0)
            app = app_of(d)
            env = container_env(d, os.environ)
            env.update(stack_aliases(app, os.environ, env))
            account = service_account_token_wanted(d, env)
            fingerprint = hashlib.sha256(json.dumps([env, account, app], sort_keys=True).encode()).hexdigest()
            w = self.workers.setdefault(key, Workers())
            w.app = app
            if w.fingerprint != fingerprint:
                # A changed pod template means a rollout: replace every process.
                self._stop_all(w)
                w.fingerprint = fingerprint
            for gone in [p for p in w.procs if p.poll() is not None]:
                self._forget(w, gone)
            w.procs = [p for p in w.procs if p.poll() is None]
            while len(w.procs) > replicas:
                self._stop(w, w.procs.pop())
            while len(w.procs) < replicas:
                w.procs.append(self._start(key, w, env, account))
        for key in [k for k in self.workers if k not in seen]:
            self._stop_all(self.workers.pop(key))
        self._renew_tokens()
        self._write_record()

    def _start(
        self, key: tuple[str, str], w: Workers, env: dict[str, str], account: str | None
    ) -> subprocess.Popen[bytes]:
        name = f"{key[0]}-{key[1]}-{len(w.procs)}"
        worker_env = process_env(os.environ, env)
        token = None
        if account is not None and self.tokens is not None:
            # Its own file, as each pod has its own projected volume (indexes are reused after a crash).
            fd, temp = tempfile.mkstemp(prefix=f"{name}-", suffix=".jwt", dir=self.token_dir)
            os.close(fd)
            path = Path(temp)
            token = ProjectedToken(path, key[0], account, time.monotonic())
            write_private(token.path, self.tokens(key[0], account))
            worker_env["POT_VAULT_JWT_PATH"] = str(token.path)
        out = (self.logs / f"{name}.log").open("ab")
        # Each pod would have its own IP; local processes share one, so each gets its own metrics port.
        proc = subprocess.Popen(
            self.commands.get(w.app, self.command),
            env={**worker_env, "POT_METRICS_PORT": str(free_port())},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        if token is not None:
            w.tokens[proc.pid] = token
        auth = "kubernetes" if token else ("token" if "POT_VAULT_TOKEN" in worker_env else "none")
        log.info("Started %s: deployment=%s/%s pid=%d vault_auth=%s", w.app, key[0], key[1], proc.pid, auth)
        return proc

    def _renew_tokens(self) -> None:
        """Write a fresh token for every process whose token is past 80% of its life, as the kubelet does
        for a projected token; the worker reads the file at each Vault login."""
        if self.tokens is None:
            return
        for w in self.workers.values():
            for token in w.tokens.values():
                if time.monotonic() - token.written_at >= TOKEN_SECONDS * TOKEN_RENEW_AFTER:
                    write_private(token.path, self.tokens(token.namespace, token.service_account))
                    token.written_at = time.monotonic()

    def _write_record(self) -> None:
        """Which process runs for which Deployment, how it logs in to Vault and the names (never the
        values) of its environment: what the tests and a person check."""
        entries = []
        for (namespace, name), w in sorted(self.workers.items()):
            for proc in w.procs:
                token = w.tokens.get(proc.pid)
                entries.append(
                    {
                        "app": w.app,
                        "namespace": namespace,
                        "deployment": name,
                        "pid": proc.pid,
                        "service_account": token.service_account if token else None,
                        "token_file": str(token.path) if token else None,
                        "env": sorted(_environ_names(proc.pid)),
                    }
                )
        text = json.dumps(entries, indent=2) + "\n"
        if not self.record.exists() or self.record.read_text() != text:
            write_private(self.record, text)

    def _forget(self, w: Workers, proc: subprocess.Popen[bytes]) -> None:
        token = w.tokens.pop(proc.pid, None)
        if token is not None:
            token.path.unlink(missing_ok=True)

    def _stop(self, w: Workers, proc: subprocess.Popen[bytes]) -> None:
        # Workers drain in-flight sends on SIGTERM (an ingester stops at once, its checkpoints committed);
        # kill_group escalates only after the grace period.
        kill_group(proc.pid, timeout=30)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)
        self._forget(w, proc)

    def _stop_all(self, w: Workers) -> None:
        for proc in w.procs:
            self._stop(w, proc)
        w.procs.clear()

    def count(self) -> dict[tuple[str, str], int]:
        return {k: sum(1 for p in w.procs if p.poll() is None) for k, w in self.workers.items()}

    def shutdown(self) -> None:
        for w in self.workers.values():
            self._stop_all(w)
        self._write_record()


def _environ_names(pid: int) -> list[str]:
    """The variable names in a live process's environment (/proc/<pid>/environ), [] once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return []
    return [item.split(b"=", 1)[0].decode(errors="replace") for item in raw.split(b"\0") if item]


class ServiceAccountTokens:
    """Tokens from the apiserver's TokenRequest API, as the kubelet gets them for a pod; the
    ServiceAccount is created first when the namespace lacks it (the chart would have made it)."""

    def __init__(self, core: Any) -> None:
        self.core = core

    def __call__(self, namespace: str, account: str) -> str:
        from kubernetes import client

        body = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=TOKEN_SECONDS)
        )
        try:
            answer = self.core.create_namespaced_service_account_token(account, namespace, body)
        except client.ApiException as error:
            if error.status != 404:
                raise
            self.core.create_namespaced_service_account(
                namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=account))
            )
            log.info("Created ServiceAccount: namespace=%s name=%s", namespace, account)
            answer = self.core.create_namespaced_service_account_token(account, namespace, body)
        return str(answer.status.token)


def list_worker_deployments(apps: Any) -> list[dict[str, Any]]:
    result = apps.list_deployment_for_all_namespaces(label_selector=SELECTOR)
    items: list[dict[str, Any]] = apps.api_client.sanitize_for_serialization(result).get("items") or []
    return items


def run(
    root: Path, interval: float, command: list[str], commands: Mapping[str, list[str]] | None = None
) -> None:
    from kubernetes import client, config

    config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or str(root / "kubeconfig"))
    apps = client.AppsV1Api()
    runner = Runner(root, command, tokens=ServiceAccountTokens(client.CoreV1Api()), commands=commands)
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
                log.exception("Listed worker and ingester Deployments failed")
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
        self.app_env.pop("POT_WORKER_DATABASE_URL", None)
        # The operator reads Vault with a token holding only its own policy, not the stack's root token.
        operator_token = self.app_env.pop("POT_OPERATOR_VAULT_TOKEN", None)
        if operator_token:
            self.app_env["POT_VAULT_TOKEN"] = operator_token

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
    p.add_argument(
        "--ingester-command",
        nargs="+",
        default=[sys.executable, "-m", "pot_ingester.cli"],
        help="The ingester command line.",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    run(args.root, args.interval, args.command, {INGESTER_APP: args.ingester_command})


if __name__ == "__main__":
    main()
