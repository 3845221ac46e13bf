"""The pool's ingester Deployment: when it exists, what it runs, and that only our own is touched."""

from types import SimpleNamespace
from typing import Any

from pot_common.api.pool import MailboxPoolSpec
from pot_operator.config import Settings
from pot_operator.manifests import PoolRef, build_ingester_deployment
from pot_operator.pool.ingester import ingester_write, plan_ingester

POOL = PoolRef(namespace="acme", name="outreach", uid="uid-1")
SETTINGS = Settings(vault_addr="http://127.0.0.1:8200", worker_secret="pot-worker-env")
SPEC = MailboxPoolSpec.model_validate({"selector": {"matchLabels": {"pool": "outreach"}}})


def _planned(*hosts: str | None) -> list[Any]:
    return [SimpleNamespace(plan=SimpleNamespace(row=SimpleNamespace(imap_host=h))) for h in hosts]


def test_one_reader_while_any_mailbox_has_an_inbox_and_none_otherwise() -> None:
    assert plan_ingester(POOL, SPEC, _planned(None, "imap.acme.test"), SETTINGS).replicas == 1
    assert plan_ingester(POOL, SPEC, _planned(None, None), SETTINGS).replicas == 0


def test_it_runs_pot_ingester_with_the_workers_secrets_but_no_redis() -> None:
    d = build_ingester_deployment(POOL, 1, "pot:1", SETTINGS)
    assert d["metadata"]["name"] == "pot-ingester-outreach"
    assert d["metadata"]["labels"]["app.kubernetes.io/name"] == "pot-ingester"
    assert d["spec"]["strategy"] == {"type": "Recreate"}
    container = d["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["pot-ingester"]
    names = [e["name"] for e in container["env"]]
    assert "POT_DATABASE_URL" in names and "POT_REDIS_URL" not in names
    assert all(
        "value" not in e for e in container["env"] if e["name"] in ("POT_DATABASE_URL", "POT_VAULT_TOKEN")
    )
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert d["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_created_only_when_needed_scaled_down_when_not_and_someone_elses_left_alone() -> None:
    idle = plan_ingester(POOL, SPEC, _planned(None), SETTINGS)
    busy = plan_ingester(POOL, SPEC, _planned("imap.acme.test"), SETTINGS)
    assert ingester_write(None, idle).create is None
    assert ingester_write(None, busy).create == busy.desired
    assert ingester_write(busy.desired, idle).patch == {"spec": {"replicas": 0}}
    assert ingester_write(busy.desired, busy).patch is None
    foreign = {**busy.desired, "metadata": {**busy.desired["metadata"], "ownerReferences": []}}
    write = ingester_write(foreign, busy)
    assert write.not_ours and write.patch is None and write.create is None
