"""What the attack suite's tests share: the world they run in, the attacker's SMTP server, the workers,
the canary secrets and the manifests. The fixtures that build it are in conftest.py."""

from __future__ import annotations

import json
import os
import socketserver
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from pot_stack.e2e import sql
from pot_stack.service import free_port

GROUP, VERSION = "pot.dev", "v1alpha1"
# acme's secrets: none of these may ever appear outside acme's Vault folder and acme's own sends.
CANARY_PASSWORD = "canary-Acme-Pa55-" + uuid.uuid4().hex[:8]
CANARY_TOKEN = f"987654:canary-acme-bot-{uuid.uuid4().hex[:8]}"
CANARY_HOOK = f"/services/TACME/BACME/canary{uuid.uuid4().hex[:8]}"
WORKER_IMAGE = "registry.example/pot:1.0"
DOMAIN = "example-recipients.test"


class _Recorder(socketserver.StreamRequestHandler):
    """Speaks just enough SMTP to take whatever a client offers, AUTH included, and records all of it."""

    def handle(self) -> None:
        server: AttackerSmtp = self.server  # type: ignore[assignment]
        server.record(f"connect from {self.client_address[0]}")
        self.wfile.write(b"220 smtp.attacker.test ESMTP\r\n")
        for raw in self.rfile:
            line = raw.decode(errors="replace").rstrip("\r\n")
            server.record(line)
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250-smtp.attacker.test\r\n250 AUTH PLAIN LOGIN\r\n")
            elif verb == "AUTH":
                self.wfile.write(b"235 2.7.0 Authentication successful\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go ahead\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


class AttackerSmtp(socketserver.ThreadingTCPServer):
    """The hostile tenant's own SMTP server on loopback: every connection and line is kept."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _Recorder)
        self.lines: list[str] = []
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def record(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)


class Workers:
    """`pot-worker` processes run the way the local stack runs a worker Deployment: the container's env
    as the operator wrote it, Secret references filled from `secrets` (the pods' pot-env Secret)."""

    def __init__(self, logs: Path, secrets: dict[str, str], extra: dict[str, str]) -> None:
        self.logs, self.secrets, self.extra = logs, secrets, extra
        self.procs: list[subprocess.Popen[bytes]] = []

    def start_for(self, deployment: dict[str, Any]) -> None:
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env: dict[str, str] = {}
        for item in container.get("env") or []:
            if item.get("value") is not None:
                env[item["name"]] = str(item["value"])
            elif (item.get("valueFrom") or {}).get("secretKeyRef") and item["name"] in self.secrets:
                env[item["name"]] = self.secrets[item["name"]]
        name = f"{deployment['metadata']['namespace']}-{deployment['metadata']['name']}"
        out = (self.logs / f"{name}.log").open("ab")
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "pot_worker.cli"],
                env={**os.environ, **self.extra, **env, "POT_METRICS_PORT": "0"},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        out.close()

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class World:
    acme: str
    evil: str
    database: str
    operator: Any
    attacker: AttackerSmtp
    chat: Any
    workers: Workers
    custom: client.CustomObjectsApi
    core: client.CoreV1Api
    apps: client.AppsV1Api
    uid: str
    refused: dict[str, str] = field(default_factory=dict)  # what the apiserver refused, by attack

    def get(self, namespace: str, plural: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)  # type: ignore[no-any-return]

    def create(self, namespace: str, plural: str, body: dict[str, Any], **kw: Any) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body, **kw)

    def events(self, namespace: str) -> list[client.CoreV1Event]:
        return list(self.core.list_namespaced_event(namespace).items)

    def sql(self, query: str, *args: Any) -> list[Any]:
        return sql(self.database, query, *args)


def mailbox(name: str, pool: str, address: str, smtp: dict[str, Any], vault_path: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Mailbox",
        "metadata": {"name": name, "labels": {"pot.dev/pool": pool}},
        "spec": {
            "address": address,
            "smtp": smtp,
            "credentials": {"vaultPath": vault_path},
            "warmupStart": "2026-01-05",
        },
    }


def pool(name: str, selector: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MailboxPool",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"pot.dev/pool": selector}},
            # Fast enough for a test: no spacing, a warm cap, one worker.
            "limits": {"perInboxPerDay": 50, "perInboxPerHour": 50, "minSpacingSeconds": 0},
            "warmup": {"days": 14, "startVolume": 30, "maxVolume": 30},
            "workers": {"minReplicas": 1, "maxReplicas": 1},
            **spec,
        },
    }


def campaign(name: str, pool_name: str, recipients: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Campaign",
        "metadata": {"name": name},
        "spec": {
            "poolRef": {"name": pool_name},
            "recipients": recipients,
            "template": {"subject": "Hello {{ email }}", "text": "Hello"},
            **spec,
        },
    }


def refusal(create: Any) -> str:
    """The apiserver's answer to a create that must be refused, as text: 422 for a value the schema
    refuses, 400 for a field strict validation does not know."""
    try:
        create()
    except client.ApiException as e:
        assert e.status in (400, 422), (e.status, e.body)
        return str(json.loads(e.body)["message"])
    raise AssertionError("the apiserver accepted it")
