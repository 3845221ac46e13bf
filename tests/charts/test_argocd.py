"""Argo CD health checks for POT's kinds, run through the gopher-lua harness with Argo CD's libraries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from conftest import Tools

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "examples" / "argocd"
HEALTH = ARGOCD / "health"


def cond(type_: str, status: str, reason: str = "Ready", message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-11-27T10:00:00Z",
    }


def obj(kind: str, status: dict[str, Any] | None, *, generation: int = 3, **spec: Any) -> dict[str, Any]:
    o: dict[str, Any] = {
        "apiVersion": "pot.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "acme", "generation": generation},
        "spec": spec,
    }
    if status is not None:
        o["status"] = {"observedGeneration": 3, **status}
    return o


READY = cond("Ready", "True", "Ready", "All checks passed")

MAILBOX_CASES = {
    "no status yet": (obj("Mailbox", None), "Progressing", "Waiting for the POT operator"),
    "status of an older generation": (
        obj("Mailbox", {"state": "Active", "conditions": [READY]}, generation=4),
        "Progressing",
        "Waiting for the operator to observe generation 4",
    ),
    "warming and ready": (
        obj("Mailbox", {"state": "Warming", "conditions": [READY]}),
        "Healthy",
        "Sending (Warming)",
    ),
    "paused by spec": (
        obj(
            "Mailbox",
            {
                "state": "Paused",
                "pauseReason": "Holiday",
                "conditions": [cond("Ready", "False", "Paused", "Holiday")],
            },
            paused=True,
        ),
        "Suspended",
        "Holiday",
    ),
    "its pool is paused": (
        obj(
            "Mailbox",
            {"state": "Active", "conditions": [cond("Ready", "False", "PoolPaused", "Pool p is paused")]},
        ),
        "Suspended",
        "Pool p is paused",
    ),
    "credentials rejected": (
        obj(
            "Mailbox",
            {
                "state": "Failed",
                "conditions": [
                    cond("Ready", "False", "AuthenticationRejected", "refused"),
                    cond(
                        "CredentialsReady", "False", "AuthenticationRejected", "The SMTP server refused these"
                    ),
                ],
            },
        ),
        "Degraded",
        "The SMTP server refused these",
    ),
    "cooling down recovers by itself": (
        obj(
            "Mailbox",
            {
                "state": "Cooling",
                "conditions": [
                    cond("Ready", "False", "CoolingDown", "Cooling down until 2026-11-28T10:00:00Z"),
                    cond("Healthy", "False", "CoolingDown", "Cooling down until 2026-11-28T10:00:00Z"),
                ],
            },
        ),
        "Progressing",
        "Cooling down until 2026-11-28T10:00:00Z",
    ),
    "no pool selects it": (
        obj(
            "Mailbox",
            {"state": "Pending", "conditions": [cond("Ready", "False", "NoPool", "No pool selects it")]},
        ),
        "Degraded",
        "No pool selects it",
    ),
}

POOL_CASES = {
    "no status yet": (obj("MailboxPool", None), "Progressing", "Waiting for the POT operator"),
    "ready": (
        obj(
            "MailboxPool",
            {"paused": False, "mailboxes": {"total": 3}, "workerReplicas": 1, "conditions": [READY]},
        ),
        "Healthy",
        "3 mailboxes, 1 workers",
    ),
    "auto-paused": (
        obj(
            "MailboxPool",
            {
                "paused": True,
                "pauseReason": "Bounce rate 6.1 % over 5 %",
                "conditions": [
                    cond("Ready", "False", "AutoPaused", "x"),
                    cond("Paused", "True", "AutoPaused", "x"),
                ],
            },
        ),
        "Suspended",
        "Bounce rate 6.1 % over 5 %",
    ),
    "paused by spec before the operator noticed the status": (
        obj("MailboxPool", {"paused": False, "conditions": [READY]}, paused=True),
        "Suspended",
        "Paused",
    ),
    "not ready": (
        obj(
            "MailboxPool",
            {"paused": False, "conditions": [cond("Ready", "False", "NoMailboxes", "Selects none")]},
        ),
        "Degraded",
        "Selects none",
    ),
    "ready unknown": (
        obj("MailboxPool", {"conditions": [cond("Ready", "Unknown", "Reconciling")]}),
        "Progressing",
        "Waiting for the POT operator",
    ),
}

CAMPAIGN_CASES = {
    "no status yet": (obj("Campaign", None), "Progressing", "Waiting for the POT operator"),
    "running": (
        obj("Campaign", {"phase": "Running", "counts": {"total": 100, "sent": 40}}),
        "Progressing",
        "Running: 40 of 100 sent",
    ),
    "scheduled": (
        obj(
            "Campaign",
            {"phase": "Scheduled", "conditions": [cond("Ready", "False", "Waiting", "Starts at 09:00")]},
        ),
        "Progressing",
        "Scheduled: Starts at 09:00",
    ),
    "completed": (
        obj(
            "Campaign", {"phase": "Completed", "counts": {"total": 10, "sent": 8, "bounced": 1, "failed": 1}}
        ),
        "Healthy",
        "Completed: 8 sent, 1 bounced, 1 failed",
    ),
    "paused": (obj("Campaign", {"phase": "Paused"}, paused=True), "Suspended", "Paused"),
    "failed": (
        obj(
            "Campaign",
            {"phase": "Failed", "conditions": [cond("Ready", "False", "PoolMissing", "No pool p")]},
        ),
        "Degraded",
        "No pool p",
    ),
    "preflight failed": (
        obj(
            "Campaign",
            {
                "phase": "Preflight",
                "preflight": {
                    "passed": False,
                    "checks": [
                        {"name": "spf:a.test", "result": "Pass"},
                        {"name": "dmarc:a.test", "result": "Fail"},
                        {"name": "dkim:a.test", "result": "Fail"},
                    ],
                },
            },
        ),
        "Degraded",
        "Preflight failed: dmarc:a.test, dkim:a.test",
    ),
}


def health(tools: Tools, script: Path, o: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(tools.run(tools.luahealth, str(script), input=json.dumps(o)).stdout)
    return result


@pytest.mark.parametrize(
    ("script", "case"),
    [("mailbox.lua", c) for c in MAILBOX_CASES]
    + [("mailboxpool.lua", c) for c in POOL_CASES]
    + [("campaign.lua", c) for c in CAMPAIGN_CASES],
    ids=lambda v: v.replace(" ", "-"),
)
def test_health_check(tools: Tools, script: str, case: str) -> None:
    cases = {"mailbox.lua": MAILBOX_CASES, "mailboxpool.lua": POOL_CASES, "campaign.lua": CAMPAIGN_CASES}[
        script
    ]
    o, status, message = cases[case]
    assert health(tools, HEALTH / script, o) == {"status": status, "message": message}


def test_every_kind_reaches_every_status() -> None:
    for cases in (MAILBOX_CASES, POOL_CASES, CAMPAIGN_CASES):
        assert {c[1] for c in cases.values()} == {"Healthy", "Progressing", "Degraded", "Suspended"}


def test_harness_withholds_the_libraries_argo_cd_withholds(tools: Tools, tmp_path: Path) -> None:
    # If the harness opened Lua's string library, a script calling it would pass here and fail in
    # Argo CD; the harness must fail it the same way.
    script = tmp_path / "uses-string.lua"
    script.write_text('return { status = string.upper("healthy") }\n')
    done = tools.run_unchecked(tools.luahealth, str(script), input="{}")
    assert done.returncode != 0 and "string" in done.stderr
    script.write_text("return { status = io ~= nil and 'Degraded' or 'Healthy', t = os.time() > 0 }\n")
    assert json.loads(tools.run(tools.luahealth, str(script), input="{}").stdout) == {
        "status": "Healthy",
        "t": True,
    }


def test_argocd_cm_snippet_holds_exactly_the_scripts() -> None:
    cm = yaml.safe_load((ARGOCD / "argocd-cm-health.yaml").read_text())
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["name"] == "argocd-cm"
    expected = {
        f"resource.customizations.health.pot.dev_{kind}": (HEALTH / f"{kind.lower()}.lua").read_text()
        for kind in ("Campaign", "MailboxPool", "Mailbox")
    }
    assert cm["data"] == expected, "argocd-cm-health.yaml drifted: run examples/argocd/build-argocd-cm.sh"


def test_applications_point_at_what_exists() -> None:
    apps = [yaml.safe_load(p.read_text()) for p in sorted(ARGOCD.glob("application-*.yaml"))]
    assert len(apps) == 2
    for app in apps:
        assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
        source = app["spec"]["source"]
        assert (REPO / source["path"]).is_dir(), source["path"]
        for values in source.get("helm", {}).get("valueFiles", []):
            assert (REPO / source["path"] / values).is_file(), values
        assert app["spec"]["destination"]["namespace"]
