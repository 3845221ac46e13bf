"""What the API e2e tests share: one namespace's POT on the real control plane, Postgres, Redis, OpenBao
and an SMTP sink of its own, with the operator and the local runner (real workers following the
Deployment's replicas), built once per test module (`open_world`), and the manifests they apply."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis
from kubernetes import client
from pot_common.db import apply_schema
from pot_stack.e2e import sql, wait_for
from pot_stack.fixtures import run_sync
from pot_stack.local_runner import LocalRunnerService
from pot_stack.smtp_sink import SmtpSink

REPO = Path(__file__).resolve().parents[3]
GROUP, VERSION = "pot.dev", "v1alpha1"
UNSUBSCRIBE_KEY = "api-e2e-unsubscribe-key-" + uuid.uuid4().hex  # 56 bytes: a usable key


def _operator_fixtures() -> Any:
    """tests/e2e/operator/conftest.py (OperatorProcess), loaded by path: conftests are not importable
    modules under --import-mode=importlib (as tests/e2e/tenancy does)."""
    path = REPO / "tests" / "e2e" / "operator" / "conftest.py"
    spec = importlib.util.spec_from_file_location("pot_e2e_operator_conftest_api", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OperatorProcess = _operator_fixtures().OperatorProcess


@dataclass
class World:
    """One namespace's POT and helpers to look at what it did."""

    namespace: str
    database: str
    sink: SmtpSink
    root: Path
    api: client.ApiClient
    operator: Any
    runner: LocalRunnerService
    vault: Any
    created: list[tuple[str, str]] = field(default_factory=list)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    def create(self, plural: str, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, body)

    def get(self, plural: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, name
        )
        return obj

    def status(self, name: str) -> dict[str, Any]:
        return self.get("campaigns", name).get("status") or {}

    def config_map(self, name: str, csv: str) -> None:
        self.core.create_namespaced_config_map(
            self.namespace,
            client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"recipients.csv": csv}),
        )

    def events(self, reason: str) -> list[client.CoreV1Event]:
        return [e for e in self.core.list_namespaced_event(self.namespace).items if e.reason == reason]

    def sql(self, query: str, *args: Any) -> list[Any]:
        return sql(self.database, query, *args)

    def put_secret(self, path: str, data: dict[str, str]) -> None:
        self.vault.client().secrets.kv.v2.create_or_update_secret(
            path=f"pot/{self.namespace}/{path}", secret=data, mount_point="secret"
        )

    def kill_operator(self) -> None:
        """The operator away at once (killed: a clean shutdown only takes longer)."""
        proc = self.operator.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self.operator.proc = None

    def logs(self) -> str:
        """The tail of every log of this world, for a failed wait."""
        parts = []
        for path in sorted(self.root.rglob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    def wait_phase(self, name: str, phase: str, timeout: float = 60) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status = self.status(name)
            return status if status.get("phase") == phase else None

        found: dict[str, Any] = wait_for(reached, timeout, f"campaign {name} {phase}", self.logs)
        return found

    def sent_to(self, name: str) -> list[str]:
        """The recipients the campaign's messages reached, in the order the sink stored them."""
        ids = {
            r["recipient"].lower()
            for r in self.sql(
                "SELECT recipient FROM send_jobs j JOIN campaigns c ON c.id = j.campaign_id"
                " WHERE c.namespace = $1 AND c.name = $2",
                self.namespace,
                name,
            )
        }
        return [m.rcpt_to for m in self.sink.messages() if m.rcpt_to.lower() in ids]


def pool(name: str, *, min_replicas: int = 1, max_replicas: int = 1, per_worker: int = 100) -> dict[str, Any]:
    """A pool whose mailboxes are warm at once and unspaced: the tests wait on nothing but POT."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MailboxPool",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"pot.dev/pool": name}},
            "limits": {
                "perInboxPerDay": 5000,
                "perInboxPerHour": 5000,
                "minSpacingSeconds": 0,
                "perRecipientDomainPerHour": 5000,
            },
            "warmup": {"days": 14, "startVolume": 5000, "maxVolume": 5000},
            "workers": {
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
                "sendsPerWorkerPerHour": per_worker,
            },
        },
    }


def mailbox(name: str, pool_name: str, sink: SmtpSink, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Mailbox",
        "metadata": {"name": name, "labels": {"pot.dev/pool": pool_name}},
        "spec": {
            "address": f"{name}@acme-mail.test",
            "smtp": {"host": sink.host, "port": sink.port, "tlsMode": "starttls"},
            "credentials": {"vaultPath": f"mailboxes/{name}"},
            **spec,
        },
    }


def campaign(name: str, pool_name: str, list_name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "poolRef": {"name": pool_name},
        "recipients": {"configMapRef": {"name": list_name}},
        "template": {"subject": "Hello", "text": "Hi"},
    }
    body.update(spec)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Campaign", "metadata": {"name": name}, "spec": body}


def _database(postgres: Any, stem: str) -> Iterator[str]:
    name = f"{stem}_{uuid.uuid4().hex[:12]}"

    async def execute(statement: str | None, url: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await (apply_schema(conn) if statement is None else conn.execute(statement))
        finally:
            await conn.close()

    run_sync(execute(f'CREATE DATABASE "{name}"', postgres.url))
    try:
        run_sync(execute(None, postgres.url_for(name)))
        yield postgres.url_for(name)
    finally:
        run_sync(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', postgres.url))


@contextlib.contextmanager
def open_world(
    stem: str,
    *,
    kube: Any,
    api: client.ApiClient,
    postgres: Any,
    redis_url: str,
    vault: Any,
    dns_server: Any,
    root: Path,
    operator_env: dict[str, str] | None = None,
    worker_env: dict[str, str] | None = None,
) -> Iterator[World]:
    """A namespace of its own, a sink, the operator (watching only that namespace) and the local
    runner; everything stopped and the namespace deleted afterwards."""
    kube.apply_crds(REPO / "crds")
    # A fresh database means fresh pool, mailbox and campaign ids: counters an earlier test left in the
    # session's Redis under the same ids would refuse this world's sends.
    flush = redis.Redis.from_url(redis_url)
    try:
        flush.flushall()
    finally:
        flush.close()
    namespace = f"{stem}-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    sink = SmtpSink(root / "sink", slow_delay=0.2)
    sink.start()
    with contextlib.ExitStack() as stack:
        stack.callback(sink.stop)
        stack.callback(core.delete_namespace, namespace)
        database = stack.enter_context(contextlib.contextmanager(_database)(postgres, stem.replace("-", "_")))
        env = {
            "KUBECONFIG": str(kube.admin_kubeconfig),
            "POT_NAMESPACE": namespace,
            "POT_DATABASE_URL": database,
            "POT_REDIS_URL": redis_url,
            **vault.env(),
            "POT_DNS_RESOLVER": dns_server.resolver,
            "POT_DNSBL_ZONES": "",
            "POT_SMTP_CA_FILE": str(sink.cert_path),
            "POT_RECONCILE_INTERVAL": "1",
            "POT_CAMPAIGN_INTERVAL": "1",
            "POT_REFRESH_SECONDS": "1",
        }
        operator = OperatorProcess(
            {**os.environ, **env, **(operator_env or {})}, root / "logs" / "operator.log"
        )
        (root / "logs").mkdir(parents=True, exist_ok=True)
        runner = LocalRunnerService(root, {**env, **(worker_env or {})})
        world = World(namespace, database, sink, root, api, operator, runner, vault)
        operator.start()
        stack.callback(world.kill_operator)
        runner.start()
        stack.callback(runner.stop)
        world.put_secret("unsubscribe", {"key": UNSUBSCRIBE_KEY})
        yield world


def module_world(
    stem: str, *, operator_env: dict[str, str] | None = None, worker_env: dict[str, str] | None = None
) -> Any:
    """A module-scoped fixture yielding an `open_world` built from the session's servers."""

    @pytest.fixture(scope="module")
    def world_fixture(  # type: ignore[no-untyped-def]
        kube, kube_api, postgres, redis_server, vault, dns_server, tmp_path_factory
    ) -> Iterator[World]:
        with open_world(
            stem,
            kube=kube,
            api=kube_api,
            postgres=postgres,
            redis_url=redis_server.url,
            vault=vault,
            dns_server=dns_server,
            root=tmp_path_factory.mktemp(stem),
            operator_env=operator_env,
            worker_env=worker_env,
        ) as w:
            yield w

    return world_fixture
