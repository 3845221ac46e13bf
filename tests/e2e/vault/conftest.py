"""The chart's worker path with Vault's kubernetes auth, on the local control plane: the operator and
the local runner as `make up` starts them (pot_stack.local_runner), OpenBao on disk with kubernetes
auth and POT's policies and roles (the `vault_kube` fixture), a sink that accepts only each mailbox's
own credentials, and namespaces of their own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes import client
from pot_stack.controlplane import ControlPlane
from pot_stack.e2e import sql, wait_for
from pot_stack.local_runner import LocalRunnerService, OperatorService
from pot_stack.openbao import OpenBao
from pot_stack.postgres import Postgres
from pot_stack.smtp_sink import SmtpSink
from pot_stack.stack import create_worker_role

REPO = Path(__file__).resolve().parents[3]
GROUP, VERSION = "pot.dev", "v1alpha1"


@dataclass(frozen=True)
class Box:
    """A mailbox of a tenant: its Vault secret (under the namespace's folder) and the sink's account."""

    name: str
    username: str
    password: str


@dataclass
class World:
    """One test's POT: the processes, where they write, and helpers to look at what they did."""

    kube: ControlPlane
    bao: OpenBao
    sink: SmtpSink
    database_url: str
    root: Path
    services: list[Any] = field(default_factory=list)

    def apply(self, docs: list[dict[str, Any]]) -> None:
        self.kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

    def custom(self, namespace: str, plural: str, name: str) -> dict[str, Any]:
        api = client.CustomObjectsApi(_api(self.kube))
        obj: dict[str, Any] = api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        return obj

    def workers(self) -> list[dict[str, Any]]:
        """The local runner's record of its processes (pot_stack.local_runner)."""
        import json

        path = self.root / "workers.json"
        return list(json.loads(path.read_text())) if path.exists() else []

    def sql(self, query: str, *args: Any) -> list[Any]:
        return sql(self.database_url, query, *args)

    def logs(self) -> str:
        """The tail of every log of this world, for a failed wait."""
        parts = []
        for path in sorted((self.root / "logs").rglob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)


_API: dict[str, client.ApiClient] = {}


def _api(kube: ControlPlane) -> client.ApiClient:
    from kubernetes import config

    key = str(kube.admin_kubeconfig)
    if key not in _API:
        _API[key] = config.new_client_from_config(config_file=key)  # type: ignore[no-untyped-call]
    return _API[key]


@pytest.fixture(scope="module")
def crds(kube: ControlPlane) -> ControlPlane:
    kube.apply_crds(REPO / "crds")
    return kube


def new_namespace(kube: ControlPlane, stem: str) -> str:
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(_api(kube)).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


@pytest.fixture
def start_world(
    crds: ControlPlane,
    vault_kube: OpenBao,
    postgres: Postgres,
    fresh_database: str,
    fresh_redis: str,
    dns_server: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., World]]:
    """Start a world for these namespaces and mailboxes (operator, runner, a sink taking exactly those
    accounts); everything started is stopped after the test."""
    started: list[World] = []

    def start(boxes: dict[str, list[Box]], worker_env: dict[str, str] | None = None) -> World:
        root = tmp_path_factory.mktemp("vault-world")
        users = root / "sink-users"
        users.write_text("".join(f"{b.username}:{b.password}\n" for bs in boxes.values() for b in bs))
        sink = SmtpSink(root, auth_file=users)
        sink.start()
        database = urlsplit(fresh_database).path.lstrip("/")
        world = World(crds, vault_kube, sink, fresh_database, root, [sink])
        started.append(world)
        for namespace, bs in boxes.items():
            for b in bs:
                vault_kube.put_secret(
                    f"pot/{namespace}/mailboxes/{b.name}", {"username": b.username, "password": b.password}
                )
        env = {
            "KUBECONFIG": str(crds.admin_kubeconfig),
            "POT_NAMESPACE": ",".join(boxes),
            "POT_DATABASE_URL": fresh_database,
            "POT_WORKER_DATABASE_URL": create_worker_role(postgres, database),
            "POT_REDIS_URL": fresh_redis,
            **vault_kube.env(),  # the root token: the operator swaps it, the runner must keep it from workers
            "POT_OPERATOR_VAULT_TOKEN": vault_kube.operator_token(),
            "POT_WORKER_VAULT_ROLE": "pot-worker",
            "POT_DNS_RESOLVER": dns_server.resolver,
            "POT_SMTP_CA_FILE": str(sink.cert_path),
            "POT_RECONCILE_INTERVAL": "1",
            "POT_CAMPAIGN_INTERVAL": "1",
            "POT_CREDENTIALS_RECHECK": "5",
            "POT_REFRESH_SECONDS": "1",
            **(worker_env or {}),
        }
        operator = OperatorService(root, env)
        operator.start()
        world.services.append(operator)
        runner = LocalRunnerService(root, env)
        runner.start()
        world.services.append(runner)
        return world

    yield start
    for world in started:
        for service in reversed(world.services):
            service.stop()


def pool(namespace: str, name: str, spacing: int = 0) -> dict[str, Any]:
    """A pool whose mailboxes are warm at once (start and max volume 200) and one worker."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MailboxPool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"pot.dev/pool": name}},
            "limits": {
                "perInboxPerDay": 200,
                "perInboxPerHour": 200,
                "minSpacingSeconds": spacing,
                "perRecipientDomainPerHour": 1000,
            },
            "warmup": {"days": 14, "startVolume": 200, "maxVolume": 200},
            "workers": {"minReplicas": 1, "maxReplicas": 1},
        },
    }


def mailbox(namespace: str, pool_name: str, box: Box, sink: SmtpSink) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Mailbox",
        "metadata": {"name": box.name, "namespace": namespace, "labels": {"pot.dev/pool": pool_name}},
        "spec": {
            "address": f"{box.name}@acme-mail.test",
            "displayName": box.name.title(),
            "smtp": {"host": sink.host, "port": sink.port, "tlsMode": "starttls"},
            "credentials": {"vaultPath": f"mailboxes/{box.name}"},
        },
    }


def campaign(namespace: str, pool_name: str, name: str, recipients: list[str]) -> list[dict[str, Any]]:
    csv = "email,first_name\n" + "".join(f"{r},{r.split('@')[0]}\n" for r in recipients)
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-recipients", "namespace": namespace},
            "data": {"recipients.csv": csv},
        },
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Campaign",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "poolRef": {"name": pool_name},
                "recipients": {"configMapRef": {"name": f"{name}-recipients", "key": "recipients.csv"}},
                "template": {"subject": "Hello {{ first_name }}", "text": "Hi {{ first_name }}"},
                "unsubscribe": {"url": "https://unsubscribe.acme-mail.test/u", "oneClick": True},
            },
        },
    ]


def wait_completed(world: World, namespace: str, name: str, timeout: float = 180) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        obj = world.custom(namespace, "campaigns", name)
        return obj if (obj.get("status") or {}).get("phase") == "Completed" else None

    result: dict[str, Any] = wait_for(done, timeout, f"campaign {namespace}/{name} Completed", world.logs)
    return result


def environ(pid: int) -> dict[str, str]:
    """A live process's environment as the kernel holds it."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode(errors="replace").split("=", 1) for item in raw.split(b"\0") if item)
    return {k: v for k, v in (p for p in pairs if len(p) == 2)}
