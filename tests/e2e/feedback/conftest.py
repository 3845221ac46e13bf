"""The feedback loop's world on the real control plane: the operator and the local runner as `make up`
starts them (workers AND ingesters as processes), Postgres with the least-privileged `pot_worker` role,
Redis, OpenBao, the stack's Dovecot, the local OAuth2 token endpoint, and an SMTP sink of this test's own
that accepts exactly its mailboxes' logins and delivers late bounces, complaints and replies into the
sender's inbox over LMTP, as providers do."""

from __future__ import annotations

import json
import os
import signal
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
from pot_stack.imap_server import ImapServer
from pot_stack.local_runner import LocalRunnerService, OperatorService
from pot_stack.oauth_server import OAuthServer
from pot_stack.openbao import OpenBao
from pot_stack.postgres import Postgres
from pot_stack.smtp_sink import SmtpSink
from pot_stack.stack import create_worker_role

REPO = Path(__file__).resolve().parents[3]
GROUP, VERSION = "pot.dev", "v1alpha1"


@dataclass
class World:
    kube: ControlPlane
    api: client.ApiClient
    sink: SmtpSink
    imap: ImapServer
    token_url: str
    database_url: str
    root: Path
    namespace: str
    services: list[Any] = field(default_factory=list)

    def apply(self, docs: list[dict[str, Any]]) -> None:
        for doc in docs:
            doc.setdefault("metadata", {})["namespace"] = self.namespace
        self.kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

    def custom(self, plural: str, name: str) -> dict[str, Any]:
        api = client.CustomObjectsApi(self.api)
        obj: dict[str, Any] = api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name)
        return obj

    def sql(self, query: str, *args: Any) -> list[Any]:
        return sql(self.database_url, query, *args)

    def processes(self, app: str) -> list[dict[str, Any]]:
        """The local runner's record of its processes of `app` in this test's namespace."""
        path = self.root / "workers.json"
        entries = json.loads(path.read_text()) if path.exists() else []
        return [e for e in entries if e.get("app") == app and e["namespace"] == self.namespace]

    def kill_ingester(self) -> int:
        """SIGKILL the ingester process (a node lost, an OOM kill); the runner starts another."""
        (entry,) = self.processes("pot-ingester")
        os.kill(entry["pid"], signal.SIGKILL)
        return int(entry["pid"])

    def logs(self) -> str:
        parts = []
        for path in sorted((self.root / "logs").rglob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-20:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    def all_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted((self.root / "logs").rglob("*.log")))

    def wait(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        return wait_for(check, timeout, what, self.logs)


@dataclass(frozen=True)
class Box:
    """A mailbox of the test: its login (a password, or OAuth2 when `password` is None), which the
    sink, the IMAP server, Vault and (for OAuth2) the token endpoint all know."""

    name: str
    address: str
    password: str | None = None

    @property
    def refresh_token(self) -> str:
        return f"rt-{self.name}-CANARY-feedback"


CLIENT_ID, CLIENT_SECRET = "pot-feedback-client", "cs-CANARY-feedback"


@pytest.fixture
def start_world(
    kube: ControlPlane,
    kube_api: client.ApiClient,
    namespace: str,
    postgres: Postgres,
    fresh_database: str,
    fresh_redis: str,
    vault: OpenBao,
    dns_server: Any,
    imap_server: ImapServer,
    oauth_server: OAuthServer,
    tmp_path: Path,
) -> Iterator[Callable[[list[Box]], World]]:
    """Start the world for these mailboxes; everything started is stopped after the test."""
    started: list[World] = []

    def start(boxes: list[Box]) -> World:
        kube.apply_crds(REPO / "crds")
        root = tmp_path / "world"
        root.mkdir()
        users = root / "sink-users"
        users.write_text("".join(f"{b.address}:{b.password}\n" for b in boxes if b.password))
        for b in boxes:
            imap_server.add_user(b.address, b.password)
            if b.password:
                secret = {"username": b.address, "password": b.password}
            else:
                oauth_server.register(b.address, CLIENT_ID, CLIENT_SECRET, b.refresh_token)
                secret = {
                    "username": b.address,
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "refresh_token": b.refresh_token,
                }
            vault.put_secret(f"pot/{namespace}/mailboxes/{b.name}", secret)
        sink = SmtpSink(
            root,
            auth_file=users,
            oauth_introspect_url=oauth_server.introspect_url,
            late_lmtp=(imap_server.host, imap_server.lmtp_port),
            late_delay=1.0,
        )
        sink.start()
        database = urlsplit(fresh_database).path.lstrip("/")
        w = World(kube, kube_api, sink, imap_server, oauth_server.token_url, fresh_database, root, namespace)
        w.services.append(sink)
        started.append(w)
        env = {
            "KUBECONFIG": str(kube.admin_kubeconfig),
            "POT_NAMESPACE": namespace,
            "POT_DATABASE_URL": fresh_database,
            "POT_WORKER_DATABASE_URL": create_worker_role(postgres, database),
            "POT_REDIS_URL": fresh_redis,
            **vault.env(),
            "POT_DNS_RESOLVER": dns_server.resolver,
            "POT_DNSBL_ZONES": "",
            "POT_SMTP_CA_FILE": str(sink.cert_path),
            **imap_server.env(),  # POT_STACK_IMAP_CA_FILE: the runner gives it to ingesters
            # The token endpoint is http:// on loopback: only the admin's cleartext setting admits it.
            "POT_ALLOW_PLAINTEXT_AUTH": "true",
            "POT_RECONCILE_INTERVAL": "1",
            "POT_CAMPAIGN_INTERVAL": "1",
            "POT_REFRESH_SECONDS": "1",
        }
        operator = OperatorService(root, env)
        operator.start()
        w.services.append(operator)
        runner = LocalRunnerService(root, env)
        runner.start()
        w.services.append(runner)
        return w

    yield start
    for w in started:
        for service in reversed(w.services):
            service.stop()


def pool(name: str, **health: Any) -> dict[str, Any]:
    """A pool whose mailboxes are warm at once; health thresholds as given."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MailboxPool",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"pot.dev/pool": name}},
            "limits": {
                "perInboxPerDay": 500,
                "perInboxPerHour": 500,
                "minSpacingSeconds": 0,
                "perRecipientDomainPerHour": 1000,
            },
            "warmup": {"days": 14, "startVolume": 500, "maxVolume": 500},
            "workers": {"minReplicas": 1, "maxReplicas": 1},
            **({"health": health} if health else {}),
        },
    }


def mailbox(world: World, pool_name: str, box: Box) -> dict[str, Any]:
    credentials: dict[str, Any] = {"vaultPath": f"mailboxes/{box.name}"}
    if box.password is None:
        credentials["oauth2"] = {"provider": "custom", "tokenUrl": world.token_url}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Mailbox",
        "metadata": {"name": box.name, "labels": {"pot.dev/pool": pool_name}},
        "spec": {
            "address": box.address,
            "displayName": box.name.title(),
            "smtp": {"host": world.sink.host, "port": world.sink.port, "tlsMode": "starttls"},
            "imap": {"host": world.imap.host, "port": world.imap.tls_port, "tlsMode": "implicit"},
            "credentials": credentials,
        },
    }


def campaign(name: str, pool_name: str, recipients: list[str]) -> list[dict[str, Any]]:
    csv = "email,first_name\n" + "".join(f"{r},{r.split('@')[0]}\n" for r in recipients)
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-recipients"},
            "data": {"recipients.csv": csv},
        },
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Campaign",
            "metadata": {"name": name},
            "spec": {
                "poolRef": {"name": pool_name},
                "recipients": {"configMapRef": {"name": f"{name}-recipients", "key": "recipients.csv"}},
                "template": {"subject": "Hello {{ first_name }}", "text": "Hi {{ first_name }}"},
            },
        },
    ]
