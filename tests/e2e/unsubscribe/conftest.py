"""The unsubscribe endpoint on the real stack: the control plane with POT's CRDs, the operator and the
local runner's workers (as `make up` runs them), OpenBao, a sink of its own, and `pot-unsubscribe`
reading Vault with a token holding only the endpoint's policy and Postgres as `pot_unsubscribe`."""

from __future__ import annotations

import asyncio
import secrets
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import yaml
from kubernetes import client, config
from pot_common.sql import load_sql
from pot_stack.controlplane import ControlPlane
from pot_stack.e2e import sql
from pot_stack.local_runner import LocalRunnerService, OperatorService
from pot_stack.openbao import OpenBao
from pot_stack.postgres import Postgres
from pot_stack.service import Service, free_port, wait_until
from pot_stack.smtp_sink import SmtpSink
from pot_stack.stack import create_worker_role

REPO = Path(__file__).resolve().parents[3]
GROUP, VERSION = "pot.dev", "v1alpha1"
# The Vault policy docs/unsubscribe.md tells the admin to give the endpoint: every tenant's key, nothing else.
ENDPOINT_POLICY = 'path "secret/data/pot/+/unsubscribe" {\n  capabilities = ["read"]\n}\n'


class Endpoint(Service):
    """`pot-unsubscribe` as `make up` would run it; `.url` is where an Ingress would send the links."""

    name = "unsubscribe"

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        super().__init__(root)
        self.port = free_port()
        self.app_env = {**env, "POT_LISTEN_PORT": str(self.port), "POT_METRICS_PORT": "0"}
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.spawn([sys.executable, "-m", "pot_unsubscribe.cli"], env=self.app_env)
        wait_until(
            lambda: httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200,
            timeout=30,
            what="pot-unsubscribe",
            log=self.log_path,
        )

    def env(self) -> dict[str, str]:
        return {}


@dataclass
class World:
    kube: ControlPlane
    namespace: str
    sink: SmtpSink
    endpoint: Endpoint
    database_url: str
    root: Path
    services: list[Service] = field(default_factory=list)

    def apply(self, docs: list[dict[str, Any]]) -> None:
        self.kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

    def campaign_phase(self, name: str) -> str:
        api = client.CustomObjectsApi(
            config.new_client_from_config(config_file=str(self.kube.admin_kubeconfig))
        )  # type: ignore[no-untyped-call]
        obj = api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, "campaigns", name)
        return str((obj.get("status") or {}).get("phase", ""))

    def sql(self, query: str, *args: Any) -> list[Any]:
        return sql(self.database_url, query, *args)

    def logs(self) -> str:
        parts = []
        for path in sorted((self.root / "logs").rglob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)


async def execute(url: str, script: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(script)
    finally:
        await conn.close()


def as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))


@pytest.fixture
def world(
    kube: ControlPlane,
    vault: OpenBao,
    postgres: Postgres,
    fresh_database: str,
    fresh_redis: str,
    dns_server: Any,
    tmp_path: Path,
) -> Iterator[World]:
    kube.apply_crds(REPO / "crds")
    namespace = f"unsub-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", namespace)
    sink = SmtpSink(tmp_path / "sink", maildir=tmp_path / "sink" / "mail")
    sink.start()
    services: list[Service] = [sink]
    try:
        vault.put_secret(f"pot/{namespace}/mailboxes/alice", {"username": "alice", "password": "pw-alice"})
        vault.put_secret(f"pot/{namespace}/unsubscribe", {"key": secrets.token_urlsafe(48)})
        database = urlsplit(fresh_database).path.lstrip("/")
        env = {
            "KUBECONFIG": str(kube.admin_kubeconfig),
            "POT_NAMESPACE": namespace,
            "POT_DATABASE_URL": fresh_database,
            "POT_WORKER_DATABASE_URL": create_worker_role(postgres, database),
            "POT_REDIS_URL": fresh_redis,
            **vault.env(),
            "POT_DNS_RESOLVER": dns_server.resolver,
            "POT_SMTP_CA_FILE": str(sink.cert_path),
            "POT_RECONCILE_INTERVAL": "1",
            "POT_CAMPAIGN_INTERVAL": "1",
            "POT_REFRESH_SECONDS": "1",
        }
        for service in (OperatorService(tmp_path, env), LocalRunnerService(tmp_path, env)):
            service.start()
            services.append(service)

        # The endpoint as the admin deploys it: Postgres as `pot_unsubscribe`, Vault with its policy only.
        asyncio.run(execute(fresh_database, load_sql("pot_common.db", "unsubscribe_role", folder="")))
        vault.request("PUT", "sys/policies/acl/pot-unsubscribe", {"policy": ENDPOINT_POLICY})
        token = vault.request(
            "POST", "auth/token/create-orphan", {"policies": ["pot-unsubscribe"], "no_default_policy": True}
        )["auth"]["client_token"]
        endpoint = Endpoint(
            tmp_path,
            {
                "POT_DATABASE_URL": as_role(fresh_database, "pot_unsubscribe"),
                "POT_VAULT_ADDR": vault.addr,
                "POT_VAULT_TOKEN": token,
                "POT_VAULT_MOUNT": vault.mount,
            },
        )
        endpoint.start()
        services.append(endpoint)
        yield World(kube, namespace, sink, endpoint, fresh_database, tmp_path, services)
    finally:
        for service in reversed(services):
            service.stop()


def pool(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MailboxPool",
        "metadata": {"name": "outreach", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"pot.dev/pool": "outreach"}},
            "limits": {"perInboxPerDay": 200, "perInboxPerHour": 200, "minSpacingSeconds": 0},
            "warmup": {"days": 14, "startVolume": 200, "maxVolume": 200},
            "workers": {"minReplicas": 1, "maxReplicas": 1},
        },
    }


def mailbox(namespace: str, sink: SmtpSink) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Mailbox",
        "metadata": {"name": "alice", "namespace": namespace, "labels": {"pot.dev/pool": "outreach"}},
        "spec": {
            "address": "alice@acme-mail.test",
            "displayName": "Alice",
            "smtp": {"host": sink.host, "port": sink.port, "tlsMode": "starttls"},
            "credentials": {"vaultPath": "mailboxes/alice"},
        },
    }


def campaign(namespace: str, name: str, recipients: list[str], url: str) -> list[dict[str, Any]]:
    csv = "email\n" + "".join(f"{r}\n" for r in recipients)
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
                "poolRef": {"name": "outreach"},
                "recipients": {"configMapRef": {"name": f"{name}-recipients", "key": "recipients.csv"}},
                "template": {"subject": "Hello", "text": "Hi there"},
                "unsubscribe": {"url": url, "oneClick": True},
            },
        },
    ]
