"""potctl status, pause and resume against a real kube-apiserver with POT's CRDs and the example objects.

Status is written through the status subresource, so the CRD's schema (generated from pot_common.api)
checks the field names potctl reads: a guessed name would be pruned and the figure would not show.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from pot_common.annotations import RESUME_ANNOTATION
from pot_stack.controlplane import ControlPlane
from pot_stack.service import free_port, wait_until
from potctl import kube_commands, kube_views
from potctl.main import app
from typer.testing import CliRunner, Result

REPO = Path(__file__).resolve().parents[3]
CRDS = REPO / "crds"
EXAMPLE_FILES = tuple(REPO / "examples" / f for f in ("mailboxpool.yaml", "mailboxes.yaml", "campaign.yaml"))
READY_AT = "2026-11-27T10:00:00Z"


def _ready(status: str, reason: str) -> list[dict[str, str]]:
    return [{"type": "Ready", "status": status, "reason": reason, "lastTransitionTime": READY_AT}]


# What the operator writes (pot_operator.pool / mailbox / campaign), in the CRD's wire names.
POOL_STATUS = {
    "observedGeneration": 1,
    "mailboxes": {"total": 3, "warming": 1, "active": 2, "cooling": 0, "paused": 0, "failed": 0},
    "capacityToday": 75,
    "sentToday": 12,
    "workerReplicas": 1,
    "health": {"windowSeconds": 604800, "sent": 240, "bounceRateBasisPoints": 520, "score": 96},
    "paused": True,
    "pauseReason": "BounceRate: 5.2 % over 5 %",
    "conditions": _ready("False", "AutoPaused"),
}
MAILBOX_STATUS = {
    "state": "Warming",
    "pool": "acme-outreach",
    "warmupDay": 4,
    "capToday": 9,
    "sentToday": 2,
    "healthScore": 97,
    "conditions": _ready("True", "Sending"),
}
CAMPAIGN_STATUS = {
    "phase": "Running",
    "counts": {"total": 10, "queued": 6, "sent": 3, "bounced": 1},
    "conditions": _ready("True", "Running"),
}


@pytest.fixture(scope="module")
def crds(kube: ControlPlane) -> ControlPlane:
    kube.apply_crds(CRDS)
    return kube


@pytest.fixture
def examples(crds: ControlPlane, namespace: str) -> str:
    """The example pool, its three mailboxes and the campaign, applied into a fresh namespace."""
    args = [a for path in EXAMPLE_FILES for a in ("-f", str(path))]
    crds.kubectl("apply", "--server-side", "-n", namespace, *args)
    return namespace


def potctl(*args: str, kubeconfig: Path) -> Result:
    """potctl in this process (fast); KUBECONFIG reaches it through its --kubeconfig envvar."""
    return CliRunner().invoke(app, list(args), env={"KUBECONFIG": str(kubeconfig), "COLUMNS": "80"})


def get(kube: ControlPlane, resource: str, name: str, namespace: str) -> dict[str, Any]:
    return dict(json.loads(kube.kubectl("get", resource, name, "-n", namespace, "-o", "json").stdout))


def write_status(
    kube: ControlPlane, resource: str, name: str, namespace: str, status: dict[str, Any]
) -> None:
    kube.kubectl(
        "patch", resource, name, "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip
    # The schema would have pruned a field it does not know; the status must be stored as written.
    stored = get(kube, resource, name, namespace)["status"]
    assert {k: stored.get(k) for k in status} == status, f"the CRD pruned part of {resource} status"


def row(output: str, name: str) -> list[str]:
    """The table row of `name`, split into cells (rich pads cells with at least two spaces)."""
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if name in cells[:2]:
            return cells
    raise AssertionError(f"no row for {name} in:\n{output}")


def assert_clean_failure(result: Result, code: int, *phrases: str) -> None:
    """Exit status `code`, the phrases on stderr, and no Python traceback anywhere."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.stderr, (phrase, result.stderr)


def test_status_shows_the_status_the_operator_wrote(kube: ControlPlane, examples: str) -> None:
    ns = examples
    write_status(kube, "mailboxpool", "acme-outreach", ns, POOL_STATUS)
    write_status(kube, "mailbox", "alice-acme-mail", ns, MAILBOX_STATUS)
    write_status(kube, "campaign", "welcome", ns, CAMPAIGN_STATUS)

    result = potctl("status", "-n", ns, kubeconfig=kube.admin_kubeconfig)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert row(out, "NAME")[:3] == ["NAME", "MAILBOXES", "READY"]  # no NAMESPACE column inside one namespace
    assert row(out, "acme-outreach") == [
        "acme-outreach", "3 (2 active, 1 warming)", "False: AutoPaused", "75", "12", "1", "96",
        "yes: BounceRate: 5.2 % over 5 %",
    ]  # fmt: skip
    assert row(out, "alice-acme-mail") == [
        "alice-acme-mail", "alice@acme-mail.test", "Warming", "4", "9", "2", "97", "True", "no",
    ]  # fmt: skip
    # No status yet: every observed figure is "-", not 0 and not a crash.
    assert row(out, "bob-acme-mail") == ["bob-acme-mail", "bob@acme-mail.test", *["-"] * 6, "no"]
    assert row(out, "welcome") == [
        "welcome", "acme-outreach", "Running", "no", "10", "6", "3", "0", "1", "True",
    ]  # fmt: skip

    # The same figures kubectl's printer columns show (both read the CRD's status paths).
    printed = kube.kubectl("get", "mailboxpool", "acme-outreach", "-n", ns, "--no-headers").stdout.split()
    assert printed[1:5] == ["3", "False", "75", "1"]


def test_status_of_one_kind_and_across_namespaces(kube: ControlPlane, examples: str) -> None:
    pools = potctl("status", "pool", "-n", examples, kubeconfig=kube.admin_kubeconfig)
    assert pools.exit_code == 0, pools.output
    assert "MailboxPools" in pools.stdout
    assert "Mailboxes" not in pools.stdout and "Campaigns" not in pools.stdout

    everywhere = potctl("status", "campaign", kubeconfig=kube.admin_kubeconfig)
    assert everywhere.exit_code == 0, everywhere.output
    assert row(everywhere.stdout, "NAMESPACE")[:2] == ["NAMESPACE", "NAME"]
    assert any(line.split()[:2] == [examples, "welcome"] for line in everywhere.stdout.splitlines()), (
        everywhere.stdout
    )


def test_status_of_an_empty_namespace_says_so(crds: ControlPlane, namespace: str) -> None:
    result = potctl("status", "-n", namespace, kubeconfig=crds.admin_kubeconfig)
    assert result.exit_code == 0, result.output
    assert f"No MailboxPools in namespace {namespace}." in result.stdout
    assert f"No Campaigns in namespace {namespace}." in result.stdout


def test_status_reads_every_page(kube: ControlPlane, examples: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kube_commands, "LIST_PAGE", 2)  # three mailboxes: two pages
    result = potctl("status", "mailbox", "-n", examples, kubeconfig=kube.admin_kubeconfig)
    assert result.exit_code == 0, result.output
    for name in ("alice-acme-mail", "bob-acme-mail", "carol-acme-outreach"):
        assert row(result.stdout, name)[0] == name


@pytest.mark.parametrize(
    ("kind", "resource", "name"),
    [
        ("pool", "mailboxpool", "acme-outreach"),
        ("mailbox", "mailbox", "alice-acme-mail"),
        ("campaign", "campaign", "welcome"),
    ],
)
def test_pause_then_resume(kube: ControlPlane, examples: str, kind: str, resource: str, name: str) -> None:
    ns = examples
    takes_reason = kind != "campaign"
    reason = ["--reason", "[ops] DNS change at the registrar"] if takes_reason else []

    paused = potctl("pause", kind, name, "-n", ns, *reason, kubeconfig=kube.admin_kubeconfig)
    assert paused.exit_code == 0, paused.output
    assert "paused" in paused.stdout
    if takes_reason:
        assert "[ops] DNS change at the registrar" in paused.stdout
    spec = get(kube, resource, name, ns)["spec"]
    assert spec["paused"] is True
    if takes_reason:
        assert spec["pauseReason"] == "[ops] DNS change at the registrar"
    # Before the operator's next pass, status already shows the person's pause (from the spec).
    shown = potctl("status", kind, "-n", ns, kubeconfig=kube.admin_kubeconfig)
    cells = row(shown.stdout, name)
    assert ("yes: [ops] DNS change at the registrar" if takes_reason else "yes") in cells

    before = dt.datetime.now(dt.UTC)
    resumed = potctl("resume", kind, name, "-n", ns, kubeconfig=kube.admin_kubeconfig)
    assert resumed.exit_code == 0, resumed.output
    assert "resumed" in resumed.stdout
    obj = get(kube, resource, name, ns)
    assert obj["spec"]["paused"] is False
    assert "pauseReason" not in obj["spec"]  # the CRD allows a reason only while paused
    annotations = obj["metadata"].get("annotations") or {}
    if kind == "pool":
        # The operator ends an automatic pause only on this acknowledgment, stamped after the pause.
        stamp = dt.datetime.fromisoformat(annotations[RESUME_ANNOTATION].replace("Z", "+00:00"))
        assert before <= stamp <= dt.datetime.now(dt.UTC)
    else:
        assert RESUME_ANNOTATION not in annotations
    paused_column = 3 if kind == "campaign" else -1
    assert (
        row(potctl("status", kind, "-n", ns, kubeconfig=kube.admin_kubeconfig).stdout, name)[paused_column]
        == "no"
    )


def test_resume_of_an_auto_paused_pool_says_what_happens_next(kube: ControlPlane, examples: str) -> None:
    write_status(kube, "mailboxpool", "acme-outreach", examples, POOL_STATUS)
    result = potctl("resume", "pool", "acme-outreach", "-n", examples, kubeconfig=kube.admin_kubeconfig)
    assert result.exit_code == 0, result.output
    assert "BounceRate: 5.2 % over 5 %" in result.stdout
    assert "once the operator sees the resume" in result.stdout


def test_a_campaign_takes_no_pause_reason(kube: ControlPlane, examples: str) -> None:
    result = potctl(
        "pause", "campaign", "welcome", "-n", examples, "-r", "why", kubeconfig=kube.admin_kubeconfig
    )
    assert_clean_failure(result, 2, "a campaign has no pause reason")
    assert get(kube, "campaign", "welcome", examples)["spec"].get("paused") in (None, False)


def test_a_too_long_reason_is_refused_before_the_apiserver(kube: ControlPlane, examples: str) -> None:
    result = potctl(
        "pause",
        "pool",
        "acme-outreach",
        "-n",
        examples,
        "--reason",
        "x" * 300,
        kubeconfig=kube.admin_kubeconfig,
    )
    assert_clean_failure(result, 2, "--reason", "at most 256")
    assert get(kube, "mailboxpool", "acme-outreach", examples)["spec"].get("paused") in (None, False)


@pytest.mark.parametrize("command", ["pause", "resume"])
@pytest.mark.parametrize(("kind", "kind_name"), [("pool", "MailboxPool"), ("campaign", "Campaign")])
def test_a_missing_object_is_a_clear_error(
    crds: ControlPlane, namespace: str, command: str, kind: str, kind_name: str
) -> None:
    result = potctl(command, kind, "nope", "-n", namespace, kubeconfig=crds.admin_kubeconfig)
    assert_clean_failure(result, 1, f"error: {kind_name} {namespace}/nope not found")


def test_the_limited_user_is_told_it_is_forbidden(kube: ControlPlane, examples: str) -> None:
    ns = examples
    status = potctl("status", "-n", ns, kubeconfig=kube.limited_kubeconfig)
    assert_clean_failure(status, 1, "forbidden", 'User "pot-limited" cannot list resource "mailboxpools"')
    everywhere = potctl("status", kubeconfig=kube.limited_kubeconfig)
    assert_clean_failure(everywhere, 1, "at the cluster scope", "-n NAMESPACE")

    # Granted read-only access, it sees the tables but still may not pause.
    grant = f"""
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {{name: pot-viewer, namespace: {ns}}}
        rules:
          - apiGroups: [pot.dev]
            resources: [mailboxpools, mailboxes, campaigns]
            verbs: [get, list]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {{name: pot-viewer, namespace: {ns}}}
        roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: pot-viewer}}
        subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: pot-limited}}]
    """
    kube.kubectl("apply", "-f", "-", input=textwrap.dedent(grant))
    wait_until(
        lambda: potctl("status", "-n", ns, kubeconfig=kube.limited_kubeconfig).exit_code == 0,
        timeout=10,
        what="the RBAC grant",
    )
    assert (
        row(potctl("status", "-n", ns, kubeconfig=kube.limited_kubeconfig).stdout, "welcome")[0] == "welcome"
    )
    pause = potctl("pause", "pool", "acme-outreach", "-n", ns, kubeconfig=kube.limited_kubeconfig)
    assert_clean_failure(pause, 1, 'cannot patch resource "mailboxpools"', "forbidden")
    assert get(kube, "mailboxpool", "acme-outreach", ns)["spec"].get("paused") in (None, False)


def test_as_a_person_runs_it_no_traceback(kube: ControlPlane, examples: str) -> None:
    """A real potctl process: the error is one readable line on stderr (no rich wrapping), exit status 1."""

    def run(*args: str, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "COLUMNS": "60"}
        return subprocess.run(
            [sys.executable, "-m", "potctl.main", *args], capture_output=True, text=True, env=env, timeout=60
        )

    missing = run("resume", "campaign", "nope", "-n", examples, kubeconfig=kube.admin_kubeconfig)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == f"error: Campaign {examples}/nope not found"
    forbidden = run("pause", "pool", "acme-outreach", "-n", examples, kubeconfig=kube.limited_kubeconfig)
    assert forbidden.returncode == 1 and "Traceback" not in forbidden.stderr
    assert len(forbidden.stderr.strip().splitlines()) == 1 and "forbidden" in forbidden.stderr


def test_no_cluster_is_a_clear_error(kube: ControlPlane, tmp_path: Path) -> None:
    absent = potctl("status", kubeconfig=tmp_path / "absent")
    assert_clean_failure(absent, 2, "cannot use kubeconfig", "KUBECONFIG")

    # A kubeconfig whose apiserver is not there: a refused connection, not a traceback.
    config = yaml.safe_load(kube.admin_kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    dead = tmp_path / "dead"
    dead.write_text(yaml.safe_dump(config))
    result = potctl("pause", "pool", "x", "-n", "default", kubeconfig=dead)
    assert_clean_failure(result, 1, "cannot reach the Kubernetes API")


def test_pause_defaults_to_the_contexts_namespace(kube: ControlPlane, examples: str, tmp_path: Path) -> None:
    config = yaml.safe_load(kube.admin_kubeconfig.read_text())
    config["contexts"][0]["context"]["namespace"] = examples
    with_namespace = tmp_path / "kubeconfig"
    with_namespace.write_text(yaml.safe_dump(config))
    result = potctl("pause", "campaign", "welcome", kubeconfig=with_namespace)
    assert result.exit_code == 0, result.output
    assert get(kube, "campaign", "welcome", examples)["spec"]["paused"] is True


def test_the_crds_missing_is_named_as_such() -> None:
    # A 404 without an object name is the apiserver not knowing the resource type at all; a shared
    # test apiserver always has the CRDs, so this one mapping is checked on the apiserver's body.
    body = json.dumps(
        {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "details": {}}
    )
    message = kube_views.api_error_message(404, body, "listing mailboxpools.pot.dev")
    assert "CRDs are not installed" in message


def test_a_status_the_models_cannot_read_is_named_not_fatal() -> None:
    # The apiserver's schema and the models come from one source, so only an operator of another
    # version could write such a status; the row says so instead of crashing the whole table.
    pool = {"metadata": {"name": "p"}, "spec": {}, "status": {"capacityToday": "lots"}}
    assert kube_views.pool_row(pool)[:2] == ("p", "status unreadable")


def test_help_reads_well() -> None:
    runner = CliRunner()
    status = runner.invoke(app, ["status", "--help"], env={"COLUMNS": "100"})
    assert status.exit_code == 0
    text = " ".join(status.stdout.split())
    for phrase in (
        "Show MailboxPools, Mailboxes and Campaigns as the operator last reported them",
        "pool, mailbox or campaign",
        "--namespace",
        "KUBECONFIG",
        "potctl status pool -n acme",
    ):
        assert phrase in text, phrase
    pause = " ".join(runner.invoke(app, ["pause", "--help"], env={"COLUMNS": "100"}).stdout.split())
    assert "--reason" in pause and "spec.paused: true" in pause
    resume = " ".join(runner.invoke(app, ["resume", "--help"], env={"COLUMNS": "100"}).stdout.split())
    assert "pot.dev/resume-requested-at" in resume
