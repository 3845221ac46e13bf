"""The checker Job's manifest and state (pot_deliverability.emailcheck.job), potctl's --in-cluster input
checks and template (potctl.email_cluster), and the local job runner's pure parts (pot_stack.job_runner)."""

from __future__ import annotations

import datetime as dt

import pytest
from pot_deliverability.emailcheck.job import checker_job, job_name, job_state, parse_duration
from pot_stack.job_runner import command_of, failure_status, finished, success_status
from potctl.email_cluster import database_url, duration, key_values, template_from_deployment
from potctl.inputs import BadInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("720h", dt.timedelta(hours=720)),
        ("90m", dt.timedelta(minutes=90)),
        ("1h30m", dt.timedelta(minutes=90)),
        ("0s", dt.timedelta(0)),
        ("2h0m5s", dt.timedelta(hours=2, seconds=5)),
    ],
)
def test_durations_as_kubernetes_writes_them(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "1d", "h", "-1h", "1.5h", "30m1h"])
def test_other_durations_are_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
    with pytest.raises(BadInput, match="--max-age"):
        duration(text, "--max-age")


def test_job_names_fit_a_label_value() -> None:
    name = job_name(123456, "A_Very.Long.Campaign-" + "x" * 80)
    assert (
        len(name) <= 63
        and name.startswith("pot-verify-123456-a-very-long-campaign-")
        and not name.endswith("-")
    )


def test_the_job_is_restricted_and_retried_twice() -> None:
    job = checker_job(namespace="n", name="j", run_id=1, image="img", env=[], managed_by="potctl")
    pod = job["spec"]["template"]["spec"]
    assert job["spec"]["backoffLimit"] == 2 and pod["restartPolicy"] == "Never"
    assert (
        pod["securityContext"]["runAsNonRoot"]
        and pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"]
    )
    assert "nodeSelector" not in pod and "tolerations" not in pod and "ownerReferences" not in job["metadata"]
    assert job["metadata"]["labels"]["app.kubernetes.io/name"] == "pot-checker"


def test_job_state_reads_the_terminal_conditions() -> None:
    assert job_state(None) == ("missing", "")
    assert job_state({"status": {"active": 1}}) == ("active", "")
    assert job_state({"status": success_status("2026-11-30T00:00:00Z")}) == ("succeeded", "")
    state, why = job_state({"status": failure_status("2026-11-30T00:00:00Z", 3, 1)})
    assert state == "failed" and "backoff limit" in why


def test_the_runner_maps_potctl_to_a_local_command_and_knows_a_finished_job() -> None:
    job = checker_job(namespace="n", name="j", run_id=9, image="img", env=[], managed_by="potctl")
    assert command_of(job, {"potctl": ["py", "-m", "potctl.main"]}) == [
        "py",
        "-m",
        "potctl.main",
        "check-emails",
        "--job",
        "9",
    ]
    assert not finished(job) and finished({"status": success_status("2026-11-30T00:00:00Z")})
    with pytest.raises(ValueError, match="neither command nor args"):
        command_of({"spec": {"template": {"spec": {"containers": [{}]}}}}, {})


def test_the_template_comes_from_the_workers_deployment() -> None:
    secret = {
        "name": "POT_DATABASE_URL",
        "valueFrom": {"secretKeyRef": {"name": "pot-worker", "key": "POT_DATABASE_URL"}},
    }
    deployment = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"image": "ghcr.io/pot/pot:1", "env": [{"name": "POT_POOL", "value": "n/p"}, secret]}
                    ]
                }
            }
        }
    }
    found = template_from_deployment(deployment)
    assert found is not None and found.image == "ghcr.io/pot/pot:1" and found.env == [secret]
    assert template_from_deployment({"spec": {}}) is None


def test_node_selector_and_database_inputs() -> None:
    assert key_values(["pot.dev/egress=open", "zone=a"], "--node-selector") == {
        "pot.dev/egress": "open",
        "zone": "a",
    }
    for bad in ("novalue", "=x", "k=bad value"):
        with pytest.raises(BadInput, match="--node-selector"):
            key_values([bad], "--node-selector")
    assert database_url("postgresql://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(BadInput, match="postgresql://"):
        database_url("mysql://secret@h/db")
