"""Transcripts in a cluster (issue 15): the operator, configured for the store as the chart configures it
(POT_WORKER_TRANSCRIPTS_*), passes it to each pool's workers, who read their namespace's keys from
Vault. A namespace whose keys the admin wrote has its sent jobs' transcripts (`potctl transcript JOB`);
a namespace whose keys nobody wrote sends every job all the same, says so in its worker's log, and has
nothing in the store.

Real control plane, operator, local runner workers (as `make up` runs them), Postgres, Redis, OpenBao,
DNS, an SMTP sink and SeaweedFS; potctl as a process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from pot_stack.controlplane import ControlPlane
from pot_stack.e2e import sql, wait_for
from pot_stack.local_runner import LocalRunnerService, OperatorService
from pot_stack.openbao import OpenBao
from pot_stack.postgres import Postgres
from pot_stack.s3_server import S3Server
from pot_stack.service import Service
from pot_stack.smtp_sink import SmtpSink
from pot_stack.stack import create_worker_role

REPO = Path(__file__).resolve().parents[3]
GROUP, VERSION = "pot.dev", "v1alpha1"
RECIPIENTS = 4
PASSWORD = "canary-e2e-7f3a91"  # alice's SMTP password: in no transcript


def objects(namespace: str) -> list[dict[str, Any]]:
    """A pool, one mailbox on the sink (its password in the namespace's folder) and a campaign."""
    api = f"{GROUP}/{VERSION}"
    meta = {"namespace": namespace}
    csv = "email\n" + "".join(f"r{i}-{namespace}@example.test\n" for i in range(RECIPIENTS))
    return [
        {
            "apiVersion": api,
            "kind": "MailboxPool",
            "metadata": {"name": "outreach", **meta},
            "spec": {
                "selector": {"matchLabels": {"pot.dev/pool": "outreach"}},
                "limits": {"perInboxPerDay": 200, "perInboxPerHour": 200, "minSpacingSeconds": 0},
                "warmup": {"days": 14, "startVolume": 200, "maxVolume": 200},
                "workers": {"minReplicas": 1, "maxReplicas": 1},
            },
        },
        {
            "apiVersion": api,
            "kind": "Mailbox",
            "metadata": {"name": "alice", "labels": {"pot.dev/pool": "outreach"}, **meta},
            "spec": {
                "address": "alice@acme-mail.test",
                "smtp": {"host": "127.0.0.1", "port": 0, "tlsMode": "starttls"},  # the sink's, below
                "credentials": {"vaultPath": "mailboxes/alice"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "spring-recipients", **meta},
            "data": {"recipients.csv": csv},
        },
        {
            "apiVersion": api,
            "kind": "Campaign",
            "metadata": {"name": "spring", **meta},
            "spec": {
                "poolRef": {"name": "outreach"},
                "recipients": {"configMapRef": {"name": "spring-recipients", "key": "recipients.csv"}},
                "template": {"subject": "Hello", "text": "Hi there"},
                "unsubscribe": {"url": "https://unsub.acme-mail.test/u", "oneClick": True},
            },
        },
    ]


class World:
    def __init__(self, kube: ControlPlane, database: str, root: Path, store: S3Server) -> None:
        self.kube, self.database, self.root, self.store = kube, database, root, store
        self.custom = client.CustomObjectsApi(
            config.new_client_from_config(config_file=str(kube.admin_kubeconfig))  # type: ignore[no-untyped-call]
        )

    def phase(self, namespace: str) -> str:
        obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "campaigns", "spring")
        return str((obj.get("status") or {}).get("phase", ""))

    def worker_log(self, namespace: str) -> str:
        return "".join(
            p.read_text(errors="replace") for p in (self.root / "logs" / "workers").glob(f"{namespace}-*.log")
        )

    def logs(self) -> str:
        parts = []
        for path in sorted((self.root / "logs").rglob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    def potctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """potctl as the admin runs it: the database and the store's admin keys, nothing else of POT_*."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("POT_")}
        return subprocess.run(
            [sys.executable, "-m", "potctl.main", *args],
            env={**base, "POT_DATABASE_URL": self.database, **self.store.env()},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def world(
    kube: ControlPlane,
    vault: OpenBao,
    postgres: Postgres,
    fresh_database: str,
    fresh_redis: str,
    dns_server: Any,
    s3: S3Server,
    tmp_path: Path,
) -> Iterator[tuple[World, str, str]]:
    kube.apply_crds(REPO / "crds")
    s3.clear()
    uid = uuid.uuid4().hex[:6]
    seeded, unseeded = f"tr-keys-{uid}", f"tr-nokeys-{uid}"
    sink = SmtpSink(tmp_path / "sink")
    sink.start()
    services: list[Service] = [sink]
    try:
        for namespace in (seeded, unseeded):
            kube.kubectl("create", "namespace", namespace)
            vault.put_secret(f"pot/{namespace}/mailboxes/alice", {"username": "alice", "password": PASSWORD})
        # The admin writes the store's keys for one namespace only (docs/transcripts.md, "Seeding").
        vault.put_secret(
            f"pot/{seeded}/transcripts", {"access_key": s3.access_key, "secret_key": s3.secret_key}
        )
        database = fresh_database.rsplit("/", 1)[1].split("?")[0]
        # No POT_TRANSCRIPTS_*: the workers get the store only from their Deployment, as in a cluster.
        clean = {k: "" for k in os.environ if k.startswith("POT_TRANSCRIPTS_")}
        env = {
            **clean,
            "KUBECONFIG": str(kube.admin_kubeconfig),
            "POT_NAMESPACE": f"{seeded},{unseeded}",
            "POT_DATABASE_URL": fresh_database,
            "POT_WORKER_DATABASE_URL": create_worker_role(postgres, database),
            "POT_REDIS_URL": fresh_redis,
            **vault.env(),
            "POT_DNS_RESOLVER": dns_server.resolver,
            "POT_SMTP_CA_FILE": str(sink.cert_path),
            "POT_RECONCILE_INTERVAL": "1",
            "POT_CAMPAIGN_INTERVAL": "1",
            "POT_REFRESH_SECONDS": "1",
            "POT_TRANSCRIPTS_FLUSH_SECONDS": "1",
            # The cluster admin's chart values transcripts.endpoint/bucket/region (vaultPath: default).
            "POT_WORKER_TRANSCRIPTS_ENDPOINT": s3.endpoint,
            "POT_WORKER_TRANSCRIPTS_BUCKET": s3.bucket,
            "POT_WORKER_TRANSCRIPTS_REGION": s3.env()["POT_TRANSCRIPTS_REGION"],
        }
        for service in (OperatorService(tmp_path, env), LocalRunnerService(tmp_path, env)):
            service.start()
            services.append(service)
        w = World(kube, fresh_database, tmp_path, s3)
        docs = [d for ns in (seeded, unseeded) for d in objects(ns)]
        for d in docs:
            if d["kind"] == "Mailbox":
                d["spec"]["smtp"]["port"] = sink.port
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
        yield w, seeded, unseeded
    finally:
        for service in reversed(services):
            service.stop()
        s3.clear()


def test_a_namespace_with_keys_gets_transcripts_and_one_without_sends_all_the_same(
    world: tuple[World, str, str],
) -> None:
    w, seeded, unseeded = world
    for namespace in (seeded, unseeded):
        wait_for(
            lambda n=namespace: w.phase(n) == "Completed", 90, f"campaign in {namespace} Completed", w.logs
        )
    sent = {
        ns: n
        for ns, n in sql(
            w.database,
            "SELECT c.namespace, count(*) FROM send_jobs j JOIN campaigns c ON c.id = j.campaign_id"
            " WHERE j.state = 'sent' GROUP BY c.namespace",
        )
    }
    assert sent == {seeded: RECIPIENTS, unseeded: RECIPIENTS}

    # Every sent job of the seeded namespace has its transcript, written with that namespace's keys.
    jobs = {
        ns: job
        for ns, job in sql(
            w.database,
            "SELECT c.namespace, min(j.id) FROM send_jobs j JOIN campaigns c ON c.id = j.campaign_id"
            " GROUP BY c.namespace",
        )
    }
    shown = wait_for(
        lambda: (done := w.potctl("transcript", str(jobs[seeded]))).returncode == 0 and done.stdout,
        30,
        f"potctl transcript {jobs[seeded]}",
        w.logs,
    )
    assert f"job {jobs[seeded]} " in shown and f"pool {seeded}/outreach" in shown
    assert "> MAIL FROM:<alice@acme-mail.test>" in shown and "< 250" in shown
    assert "[redacted]" in shown and PASSWORD not in shown
    folders = {key.split("/")[0] for key in w.store.objects()}
    assert folders == {seeded}

    # The namespace without keys: no transcript, and its worker said why (once), never failing a send.
    missing = w.potctl("transcript", str(jobs[unseeded]))
    assert missing.returncode == 2 and "no transcript" in missing.stderr
    log = w.worker_log(unseeded)
    assert "Transcripts not written, sends go on reason=keys" in log, log[-2000:]
    assert log.count("Transcripts not written") == 1
