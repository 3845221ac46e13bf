"""The operator running against the real control plane, Postgres and OpenBao (issue 3 acceptance)."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from kubernetes import client
from pot_common.warmup import WarmupCurve, warmup_cap
from pot_operator.pool.policy import desired_replicas
from pot_stack.e2e import condition, sql, wait_for

GROUP, VERSION = "pot.dev", "v1alpha1"
CANARY = "canary-Pa55word-7f3c9e"


def mailbox(name: str, pool: str, warmup_start: dt.date) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Mailbox",
        "metadata": {"name": name, "labels": {"pot.dev/pool": pool}},
        "spec": {
            "address": f"{name}@acme-mail.test",
            "smtp": {"host": "127.0.0.1", "port": 2525, "tlsMode": "none"},
            "credentials": {"vaultPath": f"mailboxes/{name}"},
            "warmupStart": warmup_start.isoformat(),
        },
    }


POOL_SPEC = {
    "selector": {"matchLabels": {"pot.dev/pool": "p"}},
    "limits": {"perInboxPerDay": 30, "perInboxPerHour": 10},
    "warmup": {"days": 14, "startVolume": 5, "maxVolume": 30, "curve": "linear"},
    "health": {"minSample": 5, "maxCooling percent".replace(" percent", "Percent"): 60},
    "workers": {"minReplicas": 0, "maxReplicas": 4, "sendsPerWorkerPerHour": 10},
}


def test_pool_lifecycle_credentials_warmup_cooldown_autopause_restart(
    operator, crds_installed, kube_api, namespace, vault, fresh_database
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    apps = client.AppsV1Api(kube_api)
    core = client.CoreV1Api(kube_api)
    ns = namespace
    today = dt.datetime.now(dt.UTC).date()
    bao = vault.client()
    # Mailboxes name paths relative to their namespace's folder: pot/<namespace>/...
    for name in ("m1", "m2", "m3"):
        bao.secrets.kv.v2.create_or_update_secret(
            path=f"pot/{ns}/mailboxes/{name}",
            secret={"username": name, "password": CANARY},
            mount_point="secret",
        )

    def get(plural: str, name: str) -> dict[str, Any]:
        return custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)  # type: ignore[no-any-return]

    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        "mailboxpools",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "MailboxPool",
            "metadata": {"name": "p"},
            "spec": POOL_SPEC,
        },
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, ns, "mailboxes", mailbox("m1", "p", today - dt.timedelta(days=5))
    )
    for name in ("m2", "m3", "m4"):
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, "mailboxes", mailbox(name, "p", today))

    # Credentials present: Ready; warmup started 5 days ago: day 6 of the curve.
    m1 = wait_for(
        lambda: (lambda o: o if (condition(o, "Ready") or {}).get("status") == "True" else None)(
            get("mailboxes", "m1")
        ),
        what="m1 Ready",
    )
    curve = WarmupCurve(days=14, start=5, maximum=30)
    assert m1["status"]["warmupDay"] == 6
    assert m1["status"]["capToday"] == warmup_cap(curve, 6)
    assert m1["status"]["state"] == "Warming"

    # Missing Vault secret: CredentialsReady=False with an actionable reason, then True once written.
    m4 = wait_for(
        lambda: (
            lambda o: (
                o
                if condition(o, "CredentialsReady") and condition(o, "CredentialsReady")["status"] == "False"
                else None
            )
        )(get("mailboxes", "m4")),
        what="m4 CredentialsReady False",
    )
    assert condition(m4, "CredentialsReady")["reason"] == "SecretMissing"
    assert f"pot/{ns}/mailboxes/m4" in condition(m4, "CredentialsReady")["message"]
    bao.secrets.kv.v2.create_or_update_secret(
        path=f"pot/{ns}/mailboxes/m4", secret={"username": "m4", "password": CANARY}, mount_point="secret"
    )
    wait_for(
        lambda: (condition(get("mailboxes", "m4"), "CredentialsReady") or {}).get("status") == "True",
        what="m4 credentials True",
        show=lambda: get("mailboxes", "m4"),
    )

    # The worker Deployment exists, owned by the pool, scaled to zero with nothing due.
    dep = wait_for(lambda: apps.read_namespaced_deployment("pot-worker-p", ns), what="deployment")
    assert dep.metadata.owner_references[0].kind == "MailboxPool"
    assert dep.metadata.labels["app.kubernetes.io/name"] == "pot-worker"
    wait_for(
        lambda: apps.read_namespaced_deployment("pot-worker-p", ns).spec.replicas == 0, what="replicas 0"
    )

    # A campaign with 30 recipients: jobs are materialised once and replicas follow the backlog.
    csv = "email,first\n" + "".join(f"r{i}@example.test,R{i}\n" for i in range(30))
    core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="list"), data={"recipients.csv": csv})
    )
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        "campaigns",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Campaign",
            "metadata": {"name": "c"},
            "spec": {
                "poolRef": {"name": "p"},
                "recipients": {"configMapRef": {"name": "list"}},
                "template": {"subject": "Hi {{ first }}", "text": "Hello"},
            },
        },
    )
    wait_for(
        lambda: (get("campaigns", "c").get("status") or {}).get("phase") == "Running", what="campaign Running"
    )
    assert get("campaigns", "c")["status"]["counts"]["queued"] == 30
    assert sql(fresh_database, "SELECT count(*) FROM send_jobs")[0][0] == 30
    pool = get("mailboxpools", "p")
    expected = desired_replicas(
        due_jobs=30,
        capacity_remaining=pool["status"]["capacityToday"],
        sends_per_worker=10,
        min_replicas=0,
        max_replicas=4,
        paused=False,
    )
    assert expected > 0
    wait_for(
        lambda: apps.read_namespaced_deployment("pot-worker-p", ns).spec.replicas == expected,
        what=f"replicas {expected}",
    )

    # Injected bounces on m1: m1 cools down; past the pool threshold the pool pauses, workers go to 0.
    m1_id = sql(fresh_database, "SELECT id FROM mailboxes WHERE namespace=$1 AND name='m1'", ns)[0][0]
    sql(
        fresh_database,
        "INSERT INTO delivery_events (mailbox_id, recipient, outcome, smtp_code, enhanced_code) "
        "SELECT $1, 'x' || g || '@example.test', 'bounced', 550, '5.1.1' FROM generate_series(1, 10) g",
        m1_id,
    )
    cooled = wait_for(
        lambda: (lambda o: o if o["status"].get("state") == "Cooling" else None)(get("mailboxes", "m1")),
        what="m1 Cooling",
    )
    assert cooled["status"]["cooldownUntil"]
    assert condition(cooled, "Healthy")["reason"] == "BounceRateHigh"
    paused = wait_for(
        lambda: (lambda o: o if (o.get("status") or {}).get("paused") else None)(get("mailboxpools", "p")),
        what="pool paused",
    )
    assert condition(paused, "AutoPaused")["status"] == "True"
    assert "BounceRateHigh" in paused["status"]["pauseReason"]
    wait_for(
        lambda: apps.read_namespaced_deployment("pot-worker-p", ns).spec.replicas == 0,
        what="paused replicas 0",
    )
    reasons = {e.reason for e in core.list_namespaced_event(ns).items}
    assert {"CooldownStarted", "AutoPaused"} <= reasons

    # The canary password appears nowhere we write.
    time.sleep(2)
    dumped = json.dumps(
        [
            custom.list_namespaced_custom_object(GROUP, VERSION, ns, p)
            for p in ("mailboxes", "mailboxpools", "campaigns")
        ]
    )
    dumped += json.dumps([e.to_dict() for e in core.list_namespaced_event(ns).items], default=str)
    dumped += operator.log_text()
    for table in ("pools", "mailboxes", "campaigns", "send_jobs", "delivery_events", "operator_object_state"):
        dumped += json.dumps([dict(r) for r in sql(fresh_database, f"SELECT * FROM {table}")], default=str)  # noqa: S608
    assert CANARY not in dumped
    assert "m1@acme-mail.test" in dumped  # the scan did see real content

    # Restarting the operator with nothing changed writes nothing.
    def versions() -> dict[str, str]:
        out = {
            f"{p}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
            for p in ("mailboxes", "mailboxpools", "campaigns")
            for o in custom.list_namespaced_custom_object(GROUP, VERSION, ns, p)["items"]
        }
        out["deployment"] = apps.read_namespaced_deployment("pot-worker-p", ns).metadata.resource_version
        return out

    operator.stop()
    before = versions()
    statuses = {
        p: custom.list_namespaced_custom_object(GROUP, VERSION, ns, p)["items"]
        for p in ("mailboxes", "campaigns")
    }
    operator.start()
    wait_for(
        lambda: (
            "Reconciled pool" in operator.log_text() or operator.log_text().count("Started pot-operator") >= 2
        ),
        what="restart",
    )
    time.sleep(8)
    after = {
        p: custom.list_namespaced_custom_object(GROUP, VERSION, ns, p)["items"]
        for p in ("mailboxes", "campaigns")
    }
    assert versions() == before, json.dumps(
        [[o.get("status") for o in statuses[p]] + [o.get("status") for o in after[p]] for p in statuses]
    )

    # Deleting the pool removes its Deployment (owner reference, garbage collector).
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, "campaigns", "c")
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, "mailboxpools", "p")

    def gone() -> bool:
        try:
            apps.read_namespaced_deployment("pot-worker-p", ns)
        except client.ApiException as e:
            return e.status == 404
        return False

    wait_for(gone, timeout=90, what="deployment deleted")
    # With no pool left, the mailboxes say so.
    wait_for(
        lambda: (condition(get("mailboxes", "m2"), "PoolSelected") or {}).get("reason") == "NoPoolSelects",
        what="m2 unselected",
    )


pytestmark = pytest.mark.timeout(300)
