"""Deleting and re-creating Campaigns and pools on the real control plane and Postgres: nothing more is
sent after a delete, and a re-created object starts fresh."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubernetes import client
from pot_stack.e2e import sql, wait_for

GROUP, VERSION = "pot.dev", "v1alpha1"
CANARY = "canary-Pa55word-7f3c9e"
POOL_SPEC = {
    "selector": {"matchLabels": {"pot.dev/pool": "p"}},
    "workers": {"minReplicas": 0, "maxReplicas": 4, "sendsPerWorkerPerHour": 10},
}


def rows(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in sql(url, query, *args)]


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


def _campaign(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Campaign",
        "metadata": {"name": name},
        "spec": {
            "poolRef": {"name": "p"},
            "recipients": {"configMapRef": {"name": "list"}},
            "template": {"subject": "Hi {{ first }}", "text": "Hello {{ first }}"},
        },
    }


def test_deleting_a_campaign_cancels_its_jobs_and_a_recreated_one_starts_fresh(
    operator, crds_installed, kube_api, namespace, vault, fresh_database
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    apps = client.AppsV1Api(kube_api)
    core = client.CoreV1Api(kube_api)
    ns = namespace
    vault.client().secrets.kv.v2.create_or_update_secret(
        path=f"pot/{ns}/mailboxes/m1", secret={"username": "m1", "password": CANARY}, mount_point="secret"
    )

    def get(plural: str, name: str) -> dict[str, Any] | None:
        try:
            return custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)  # type: ignore[no-any-return]
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise

    def phase(name: str) -> str | None:
        return ((get("campaigns", name) or {}).get("status") or {}).get("phase")

    pool = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MailboxPool",
        "metadata": {"name": "p"},
        "spec": POOL_SPEC,
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "mailboxpools", pool)
    today = dt.datetime.now(dt.UTC).date()
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "mailboxes", mailbox("m1", "p", today))
    csv = "email,first\n" + "".join(f"r{i}@example.test,R{i}\n" for i in range(20))
    core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="list"), data={"recipients.csv": csv})
    )
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "campaigns", _campaign("c"))
    wait_for(lambda: phase("c") == "Running", what="campaign Running")
    first_uid = (get("campaigns", "c") or {})["metadata"]["uid"]
    # No kubelet here: the jobs stay queued, one claimed as a worker would have.
    sql(
        fresh_database,
        "UPDATE send_jobs SET state = 'claimed', claimed_by = 'w' WHERE id = (SELECT min(id) FROM send_jobs)",
    )

    # Delete: the finalizer holds the object until its row and open jobs are cancelled.
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, "campaigns", "c")
    wait_for(lambda: get("campaigns", "c") is None, what="campaign gone")
    assert rows(fresh_database, "SELECT state FROM campaigns WHERE namespace = $1 AND name = 'c'", ns) == [
        ("cancelled",)
    ]
    states = rows(fresh_database, "SELECT state::text, count(*) FROM send_jobs GROUP BY 1")
    assert dict(states) == {"cancelled": 20}
    # The workers' claim finds nothing of it.
    assert sql(fresh_database, "SELECT count(*) FROM campaigns WHERE state = 'running'")[0][0] == 0

    # Re-created under the same name: a new row with its own 20 jobs; the old one kept under <name>#<uid>.
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "campaigns", _campaign("c"))
    wait_for(lambda: phase("c") == "Running", what="re-created campaign Running")
    assert (get("campaigns", "c") or {})["status"]["counts"]["queued"] == 20
    by_name = dict(rows(fresh_database, "SELECT name, state FROM campaigns WHERE namespace = $1", ns))
    assert by_name == {f"c#{first_uid}": "cancelled", "c": "running"}

    # Suspended by spec: the row is paused (no claims), phase Paused; resumed, it runs again.
    custom.patch_namespaced_custom_object(GROUP, VERSION, ns, "campaigns", "c", {"spec": {"suspend": True}})
    wait_for(lambda: phase("c") == "Paused", what="campaign suspended")
    assert rows(fresh_database, "SELECT state FROM campaigns WHERE namespace = $1 AND name = 'c'", ns) == [
        ("paused",)
    ]
    custom.patch_namespaced_custom_object(GROUP, VERSION, ns, "campaigns", "c", {"spec": {"suspend": False}})
    wait_for(lambda: phase("c") == "Running", what="campaign resumed")

    # Deleting the pool: its workers to zero, the pool and its mailboxes paused for any worker still up.
    wait_for(lambda: apps.read_namespaced_deployment("pot-worker-p", ns).spec.replicas > 0, what="workers up")
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, "mailboxpools", "p")
    wait_for(lambda: get("mailboxpools", "p") is None, what="pool gone")
    try:
        assert apps.read_namespaced_deployment("pot-worker-p", ns).spec.replicas == 0
    except client.ApiException as e:
        assert e.status == 404  # the garbage collector already followed its ownerReference
    assert rows(fresh_database, "SELECT paused FROM pools WHERE namespace = $1 AND name = 'p'", ns) == [
        (True,)
    ]
    assert rows(fresh_database, "SELECT state, state_reason FROM mailboxes WHERE namespace = $1", ns) == [
        ("paused", "MailboxPool deleted")
    ]
