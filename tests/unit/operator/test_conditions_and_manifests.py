"""Unit tests for conditions, status diffing and the worker Deployment builder."""

import datetime as dt

import pytest
from pot_operator.conditions import get_condition, set_condition, with_ready
from pot_operator.config import Settings, SettingsError
from pot_operator.manifests import (
    PoolRef,
    WorkerSettings,
    build_ingester_deployment,
    build_worker_deployment,
    deployment_drift,
)
from pot_operator.statusdiff import status_patch

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=5)


def is_true(conditions: list[dict], type_: str) -> bool:  # type: ignore[type-arg]
    return (get_condition(conditions, type_) or {}).get("status") == "True"


def test_transition_time_changes_only_with_status() -> None:
    c = set_condition([], "CredentialsReady", False, "SecretMissing", "m", generation=1, now=T0)
    c = set_condition(c, "CredentialsReady", False, "SecretIncomplete", "m2", generation=2, now=T1)
    assert c[0]["lastTransitionTime"] == "2026-03-01T12:00:00Z"
    assert c[0]["reason"] == "SecretIncomplete" and c[0]["observedGeneration"] == 2
    c = set_condition(c, "CredentialsReady", True, "Verified", "ok", generation=2, now=T1)
    assert c[0]["lastTransitionTime"] == "2026-03-01T12:05:00Z"


def test_ready_summarises_the_first_failing_condition() -> None:
    c = set_condition([], "CredentialsReady", False, "SecretMissing", "write it", generation=1, now=T0)
    c = with_ready(c, ["CredentialsReady"], generation=1, now=T0)
    ready = next(x for x in c if x["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "SecretMissing"
    assert c[0]["type"] == "Ready"
    c = set_condition(c, "CredentialsReady", True, "Verified", "ok", generation=1, now=T0)
    assert is_true(with_ready(c, ["CredentialsReady"], generation=1, now=T0), "Ready")
    blocked = with_ready(c, ["CredentialsReady"], generation=1, now=T0, blocked=("Paused", "paused by spec"))
    assert not is_true(blocked, "Ready")
    missing = with_ready([], ["Other"], generation=1, now=T0)
    assert missing[0]["reason"] == "OtherUnknown"


def test_status_patch_is_none_when_nothing_changed() -> None:
    current = {"a": 1, "b": {"c": 2, "d": 3}, "conditions": [{"type": "Ready"}], "foreign": 9}
    assert status_patch(current, {"a": 1, "b": {"c": 2}, "conditions": [{"type": "Ready"}]}) is None
    assert status_patch(current, {"gone": None}) is None


def test_status_patch_carries_only_changes_and_removals() -> None:
    current = {"a": 1, "b": {"c": 2, "d": 3}, "e": 5}
    assert status_patch(current, {"a": 1, "b": {"c": 4, "d": 3}, "e": None}) == {"b": {"c": 4}, "e": None}
    assert status_patch(None, {"x": {"y": None, "z": 1}}) == {"x": {"z": 1}}


SETTINGS = Settings(vault_addr="http://127.0.0.1:8200", worker_secret="pot-worker-env")
POOL = PoolRef(namespace="ns", name="p1", uid="uid-1")


def test_worker_deployment_is_owned_labelled_and_restricted() -> None:
    d = build_worker_deployment(POOL, WorkerSettings(replicas=3), SETTINGS)
    meta = d["metadata"]
    assert meta["name"] == "pot-worker-p1" and meta["namespace"] == "ns"
    assert meta["labels"] == {
        "app.kubernetes.io/name": "pot-worker",
        "app.kubernetes.io/managed-by": "pot-operator",
        "pot.dev/pool": "p1",
    }
    owner = meta["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("MailboxPool", "uid-1", True)
    assert d["spec"]["replicas"] == 3
    pod = d["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    c = pod["containers"][0]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    env = {e["name"]: e for e in c["env"]}
    assert env["POT_POOL"]["value"] == "ns/p1"
    for secret_var in ("POT_DATABASE_URL", "POT_REDIS_URL", "POT_VAULT_TOKEN"):
        assert "value" not in env[secret_var]
        assert env[secret_var]["valueFrom"]["secretKeyRef"]["name"] == "pot-worker-env"
    assert d["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()


def test_kubernetes_auth_uses_the_worker_role_and_no_token() -> None:
    settings = Settings(vault_addr="x", vault_role="pot", worker_vault_role="pot-worker")
    d = build_worker_deployment(POOL, WorkerSettings(replicas=1), settings)
    env = {e["name"] for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "POT_VAULT_ROLE" in env and "POT_VAULT_TOKEN" not in env


def test_drift_only_for_fields_we_own() -> None:
    desired = build_worker_deployment(POOL, WorkerSettings(replicas=2), SETTINGS)
    actual = build_worker_deployment(POOL, WorkerSettings(replicas=2), SETTINGS)
    actual["metadata"]["labels"]["extra"] = "kept"
    actual["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    assert deployment_drift(actual, desired) is None
    scaled = build_worker_deployment(POOL, WorkerSettings(replicas=0), SETTINGS)
    assert deployment_drift(actual, scaled) == {"spec": {"replicas": 0}}
    other_image = build_worker_deployment(POOL, WorkerSettings(replicas=2, image="img:2"), SETTINGS)
    assert "template" in (deployment_drift(actual, other_image) or {}).get("spec", {})


def test_workers_get_the_transcript_store_but_never_its_keys_and_the_ingester_nothing() -> None:
    def env(deployment: dict) -> dict[str, str]:  # type: ignore[type-arg]
        return {
            e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        }

    plain = build_worker_deployment(POOL, WorkerSettings(replicas=1), SETTINGS)
    assert not [name for name in env(plain) if "TRANSCRIPTS" in name]
    # The workers' own POT_TRANSCRIPTS_* (the local stack exports them) never turn the pass-through on.
    stack = Settings.from_env(
        {"POT_VAULT_ADDR": "http://bao:8200", "POT_TRANSCRIPTS_ENDPOINT": "http://s3:1"}
    )
    assert not [
        name for name in env(build_worker_deployment(POOL, WorkerSettings(1), stack)) if "TRANSC" in name
    ]

    on = Settings.from_env(
        {
            "POT_VAULT_ADDR": "http://bao:8200",
            "POT_WORKER_TRANSCRIPTS_ENDPOINT": "https://s3.example:9000",
            "POT_WORKER_TRANSCRIPTS_BUCKET": "pot-raw",
        }
    )
    worker = env(build_worker_deployment(POOL, WorkerSettings(replicas=1), on))
    assert worker["POT_TRANSCRIPTS_ENDPOINT"] == "https://s3.example:9000"
    assert (worker["POT_TRANSCRIPTS_BUCKET"], worker["POT_TRANSCRIPTS_VAULT_PATH"]) == (
        "pot-raw",
        "transcripts",
    )
    assert worker["POT_TRANSCRIPTS_REGION"] == "us-east-1"
    assert not any("ACCESS_KEY" in name or "SECRET_KEY" in name for name in worker)
    ingester = env(build_ingester_deployment(POOL, 1, "img:1", on))
    assert not [name for name in ingester if "TRANSCRIPTS" in name]

    bao = {"POT_VAULT_ADDR": "http://bao:8200"}
    for bad, field in (
        ({"POT_WORKER_TRANSCRIPTS_ENDPOINT": "https://s3.example:9000"}, "POT_VAULT_ADDR"),
        ({**bao, "POT_WORKER_TRANSCRIPTS_ENDPOINT": "s3.example"}, "POT_WORKER_TRANSCRIPTS_ENDPOINT"),
        ({**bao, "POT_WORKER_TRANSCRIPTS_ENDPOINT": "http://s3.test/b"}, "POT_WORKER_TRANSCRIPTS_ENDPOINT"),
        ({**bao, "POT_WORKER_TRANSCRIPTS_VAULT_PATH": "../acme/x"}, "POT_WORKER_TRANSCRIPTS_VAULT_PATH"),
        ({**bao, "POT_WORKER_TRANSCRIPTS_BUCKET": "Bad_Bucket"}, "POT_WORKER_TRANSCRIPTS_BUCKET"),
    ):
        with pytest.raises(SettingsError, match=field):
            Settings.from_env(bad)
