"""The generated CRDs on a real kube-apiserver: established, examples apply, bad input rejected by field."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pot_stack.controlplane import ControlPlane

REPO = Path(__file__).resolve().parents[3]
CRDS = REPO / "crds"
EXAMPLES = REPO / "examples"
DELETE = object()


def _example_objects() -> dict[str, dict[str, Any]]:
    objects = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                objects[doc["kind"]] = doc  # the last of each kind is the base for the bad-input table
    return objects


BASES = _example_objects()


@pytest.fixture(scope="module")
def crds(kube: ControlPlane) -> ControlPlane:
    kube.apply_crds(CRDS)
    return kube


@pytest.fixture(scope="module")
def bad_input_namespace(crds: ControlPlane) -> Iterator[str]:
    # One namespace for the whole table: a namespace per case would add a create and a delete each.
    name = f"crd-bad-input-{uuid.uuid4().hex[:6]}"
    crds.kubectl("create", "namespace", name)
    yield name
    crds.kubectl("delete", "namespace", name, "--wait=false")


def test_crds_become_established(crds: ControlPlane) -> None:
    names = sorted(f"{p.name.removesuffix('.yaml')}" for p in CRDS.glob("*.yaml"))
    assert names == ["campaigns.pot.dev", "mailboxes.pot.dev", "mailboxpools.pot.dev"]
    for name in names:
        crd = json.loads(crds.kubectl("get", "crd", name, "-o", "json").stdout)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True", (name, conditions)
        assert conditions.get("NamesAccepted") == "True", (name, conditions)
        assert "NonStructuralSchema" not in conditions, (name, conditions)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_applies(crds: ControlPlane, namespace: str, path: Path) -> None:
    crds.kubectl("apply", "--server-side", "--validate=strict", "-n", namespace, "-f", str(path))
    for doc in yaml.safe_load_all(path.read_text()):
        stored = json.loads(
            crds.kubectl(
                "get", doc["kind"].lower(), doc["metadata"]["name"], "-n", namespace, "-o", "json"
            ).stdout
        )
        # Nothing was pruned: every field the example sets is stored as written.
        assert _contains(stored, doc), f"{doc['kind']}/{doc['metadata']['name']} was stored differently"


def _contains(stored: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(stored, dict) and all(
            k in stored and _contains(stored[k], v) for k, v in wanted.items()
        )
    return bool(stored == wanted)


def test_pool_defaults_are_stored(crds: ControlPlane, namespace: str) -> None:
    pool = {
        "apiVersion": "pot.dev/v1alpha1",
        "kind": "MailboxPool",
        "metadata": {"name": "minimal"},
        "spec": {"selector": {"matchLabels": {"pot.dev/pool": "minimal"}}},
    }
    crds.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=json.dumps(pool))
    spec = json.loads(crds.kubectl("get", "mailboxpool", "minimal", "-n", namespace, "-o", "json").stdout)[
        "spec"
    ]
    assert spec["limits"] == {
        "perInboxPerDay": 30,
        "perInboxPerHour": 6,
        "minSpacingSeconds": 600,
        "perRecipientDomainPerHour": 50,
    }
    assert (spec["warmup"]["startVolume"], spec["warmup"]["maxVolume"], spec["warmup"]["days"]) == (5, 30, 21)
    assert spec["health"]["bounceRatePauseBasisPoints"] == 500
    assert spec["health"]["complaintRatePauseBasisPoints"] == 30
    assert "sendingWindow" not in spec


def test_get_pot_shows_printer_columns(crds: ControlPlane, namespace: str) -> None:
    crds.kubectl("apply", "--server-side", "-n", namespace, "-f", str(EXAMPLES))
    out = crds.kubectl("get", "pot", "-n", namespace).stdout
    headers = [line.split() for line in out.splitlines() if line.startswith("NAME")]
    assert ["NAME", "POOL", "PHASE", "QUEUED", "SENT", "BOUNCED", "AGE"] in headers, out
    assert ["NAME", "ADDRESS", "WARMUP", "DAY", "CAP", "SENT", "HEALTH", "READY", "AGE"] in headers, out
    assert ["NAME", "MAILBOXES", "READY", "CAPACITY", "WORKERS", "PAUSED", "REASON", "AGE"] in headers, out
    assert "alice@acme-mail.test" in out
    # short names resolve to the kinds
    assert "alice-acme-mail" in crds.kubectl("get", "mbx", "-n", namespace).stdout
    assert "acme-outreach" in crds.kubectl("get", "mbxpool", "-n", namespace).stdout
    assert "welcome" in crds.kubectl("get", "camp", "-n", namespace).stdout


def test_ready_column_reads_the_ready_condition(crds: ControlPlane, namespace: str) -> None:
    crds.kubectl("apply", "--server-side", "-n", namespace, "-f", str(EXAMPLES / "mailboxes.yaml"))
    status = {
        "status": {
            "warmupDay": 3,
            "capToday": 7,
            "sentToday": 2,
            "healthScore": 97,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Sending",
                    "message": "warming up",
                    "lastTransitionTime": "2026-11-27T10:00:00Z",
                }
            ],
        }
    }
    crds.kubectl(
        "patch", "mailbox", "alice-acme-mail", "-n", namespace,
        "--subresource=status", "--type=merge", "-p", json.dumps(status),
    )  # fmt: skip
    row = crds.kubectl("get", "mailbox", "alice-acme-mail", "-n", namespace, "--no-headers").stdout.split()
    assert row[:7] == ["alice-acme-mail", "alice@acme-mail.test", "3", "7", "2", "97", "True"], row


def test_explain_reads_like_documentation(crds: ControlPlane) -> None:
    out = crds.kubectl("explain", "mailbox.spec.smtp").stdout
    assert "The SMTP endpoint to send through." in out
    assert "tlsMode" in out and "starttls" in out and "implicit" in out
    assert "587 for STARTTLS submission" in out
    pool = crds.kubectl("explain", "mailboxpool.spec.health.bounceRatePauseBasisPoints").stdout
    assert "basis points" in pool


# --- Bad input ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadInput:
    """One invalid manifest: the example of `kind` with `edits`, and the field the error must name."""

    id: str
    kind: str
    edits: dict[str, Any]
    field: str
    # Applied first as valid, then the edits are patched on: for immutable fields.
    update: bool = False
    # Unknown fields go through `kubectl create --validate=strict` (fieldValidation=Strict): server-side
    # apply would reject them anyway, and Strict is what a plain create or update relies on.
    strict: bool = False


def _edit(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = obj
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value


BAD_INPUT = [
    # Mailbox
    BadInput("mbx-missing-address", "Mailbox", {"spec.address": DELETE}, "spec.address"),
    BadInput("mbx-missing-smtp", "Mailbox", {"spec.smtp": DELETE}, "spec.smtp"),
    BadInput("mbx-missing-credentials", "Mailbox", {"spec.credentials": DELETE}, "spec.credentials"),
    BadInput(
        "mbx-malformed-address", "Mailbox", {"spec.address": "carol.acme-outreach.test"}, "spec.address"
    ),
    BadInput(
        "mbx-two-credential-sources",
        "Mailbox",
        {"spec.credentials.secretRef": {"name": "carol-smtp"}},
        "spec.credentials",
    ),
    BadInput("mbx-no-credential-source", "Mailbox", {"spec.credentials": {}}, "spec.credentials"),
    BadInput("mbx-port-out-of-range", "Mailbox", {"spec.smtp.port": 70000}, "spec.smtp.port"),
    BadInput("mbx-port-wrong-type", "Mailbox", {"spec.smtp.port": "submission"}, "spec.smtp.port"),
    BadInput("mbx-unknown-tls-mode", "Mailbox", {"spec.smtp.tlsMode": "ssl"}, "spec.smtp.tlsMode"),
    BadInput(
        "mbx-warmup-start-not-a-date", "Mailbox", {"spec.warmupStart": "next monday"}, "spec.warmupStart"
    ),
    BadInput(
        "mbx-vault-path-absolute",
        "Mailbox",
        {"spec.credentials.vaultPath": "/secret/data/pot/x"},
        "spec.credentials.vaultPath",
    ),
    # Vault paths are relative to the namespace's folder: nothing may climb out of it.
    BadInput(
        "mbx-vault-path-climbs-out",
        "Mailbox",
        {"spec.credentials.vaultPath": "../acme/mailboxes/alice"},
        "spec.credentials.vaultPath",
    ),
    BadInput(
        "mbx-vault-path-dot-segment",
        "Mailbox",
        {"spec.credentials.vaultPath": "mailboxes/../../acme/alice"},
        "spec.credentials.vaultPath",
    ),
    BadInput(
        "pool-alert-token-climbs-out",
        "MailboxPool",
        {"spec.alerts.telegram.tokenVaultPath": "../acme/alerts/telegram"},
        "spec.alerts.telegram.tokenVaultPath",
    ),
    BadInput(
        "pool-alert-webhook-climbs-out",
        "MailboxPool",
        {"spec.alerts.slack.webhookVaultPath": "alerts/../../acme/slack"},
        "spec.alerts.slack.webhookVaultPath",
    ),
    BadInput("mbx-pause-reason-unpaused", "Mailbox", {"spec.pauseReason": "holiday"}, "spec.pauseReason"),
    BadInput("mbx-paused-wrong-type", "Mailbox", {"spec.paused": "yes"}, "spec.paused"),
    BadInput(
        "mbx-address-changed",
        "Mailbox",
        {"spec.address": "dave@acme-outreach.test"},
        "spec.address",
        update=True,
    ),
    BadInput(
        "mbx-unknown-field",
        "Mailbox",
        {"spec.smtp.hostname": "smtp.acme-outreach.test"},
        "spec.smtp.hostname",
        strict=True,
    ),
    # MailboxPool
    BadInput("pool-missing-selector", "MailboxPool", {"spec.selector": DELETE}, "spec.selector"),
    BadInput("pool-empty-selector", "MailboxPool", {"spec.selector": {}}, "spec.selector"),
    BadInput(
        "pool-match-expression-without-values",
        "MailboxPool",
        {"spec.selector.matchExpressions": [{"key": "pot.dev/pool", "operator": "In"}]},
        "spec.selector.matchExpressions[0].values",
    ),
    BadInput(
        "pool-zero-daily-limit",
        "MailboxPool",
        {"spec.limits.perInboxPerDay": 0},
        "spec.limits.perInboxPerDay",
    ),
    BadInput(
        "pool-hourly-above-daily",
        "MailboxPool",
        {"spec.limits.perInboxPerHour": 31},
        "spec.limits.perInboxPerHour",
    ),
    BadInput(
        "pool-negative-spacing",
        "MailboxPool",
        {"spec.limits.minSpacingSeconds": -600},
        "spec.limits.minSpacingSeconds",
    ),
    BadInput(
        "pool-negative-cooldown",
        "MailboxPool",
        {"spec.health.cooldownSeconds": -1},
        "spec.health.cooldownSeconds",
    ),
    BadInput("pool-warmup-too-short", "MailboxPool", {"spec.warmup.days": 7}, "spec.warmup.days"),
    BadInput("pool-warmup-too-long", "MailboxPool", {"spec.warmup.days": 60}, "spec.warmup.days"),
    BadInput(
        "pool-warmup-start-above-max",
        "MailboxPool",
        {"spec.warmup.startVolume": 25, "spec.warmup.maxVolume": 20},
        "spec.warmup.startVolume",
    ),
    BadInput(
        "pool-warmup-max-above-daily-limit",
        "MailboxPool",
        {"spec.warmup.maxVolume": 40},
        "spec.warmup.maxVolume",
    ),
    BadInput(
        "pool-window-end-before-start",
        "MailboxPool",
        {"spec.sendingWindow.start": "18:00", "spec.sendingWindow.end": "08:00"},
        "spec.sendingWindow.end",
    ),
    BadInput(
        "pool-window-bad-time",
        "MailboxPool",
        {"spec.sendingWindow.start": "25:00"},
        "spec.sendingWindow.start",
    ),
    BadInput(
        "pool-window-unknown-day",
        "MailboxPool",
        {"spec.sendingWindow.days": ["Mon", "Funday"]},
        "spec.sendingWindow.days[1]",
    ),
    BadInput(
        "pool-max-replicas-below-min",
        "MailboxPool",
        {"spec.workers.minReplicas": 3, "spec.workers.maxReplicas": 2},
        "spec.workers.maxReplicas",
    ),
    BadInput(
        "pool-rate-above-100-percent",
        "MailboxPool",
        {"spec.health.bounceRatePauseBasisPoints": 20000},
        "spec.health.bounceRatePauseBasisPoints",
    ),
    BadInput(
        "pool-warn-above-pause",
        "MailboxPool",
        {"spec.health.complaintRateWarnBasisPoints": 50},
        "spec.health.complaintRateWarnBasisPoints",
    ),
    BadInput(
        "pool-unknown-resume", "MailboxPool", {"spec.autoPause.resume": "sometimes"}, "spec.autoPause.resume"
    ),
    BadInput(
        "pool-bad-telegram-chat",
        "MailboxPool",
        {"spec.alerts.telegram.chatId": "acme"},
        "spec.alerts.telegram.chatId",
    ),
    BadInput("pool-name-too-long", "MailboxPool", {"metadata.name": "p" * 53}, "metadata.name"),
    BadInput(
        "pool-unknown-field",
        "MailboxPool",
        {"spec.limits.perInboxPerWeek": 100},
        "spec.limits.perInboxPerWeek",
        strict=True,
    ),
    # Campaign
    BadInput("camp-missing-pool-ref", "Campaign", {"spec.poolRef": DELETE}, "spec.poolRef"),
    BadInput("camp-missing-subject", "Campaign", {"spec.template.subject": DELETE}, "spec.template.subject"),
    BadInput(
        "camp-no-body",
        "Campaign",
        {"spec.template.text": DELETE, "spec.template.html": DELETE},
        "spec.template.text",
    ),
    BadInput(
        "camp-two-recipient-sources",
        "Campaign",
        {"spec.recipients.importName": "welcome-list"},
        "spec.recipients",
    ),
    BadInput(
        "camp-schedule-end-before-start",
        "Campaign",
        {"spec.schedule": {"start": "2026-12-01T09:00:00Z", "end": "2026-11-30T09:00:00Z"}},
        "spec.schedule.end",
    ),
    BadInput(
        "camp-schedule-not-a-time", "Campaign", {"spec.schedule.start": "tomorrow"}, "spec.schedule.start"
    ),
    BadInput("camp-limit-wrong-type", "Campaign", {"spec.limits.perDay": "many"}, "spec.limits.perDay"),
    BadInput("camp-limit-negative", "Campaign", {"spec.limits.perHour": -5}, "spec.limits.perHour"),
    BadInput(
        "camp-unsubscribe-not-https",
        "Campaign",
        {"spec.unsubscribe.url": "http://unsubscribe.acme-mail.test/u"},
        "spec.unsubscribe.url",
    ),
    BadInput(
        "camp-one-click-without-url",
        "Campaign",
        {"spec.unsubscribe.url": DELETE},
        "spec.unsubscribe.oneClick",
    ),
    BadInput(
        "camp-unsubscribe-malformed-mailto",
        "Campaign",
        {"spec.unsubscribe.mailto": "unsubscribe at acme"},
        "spec.unsubscribe.mailto",
    ),
    BadInput(
        "camp-pool-ref-changed", "Campaign", {"spec.poolRef.name": "other-pool"}, "spec.poolRef", update=True
    ),
    # A Campaign's tenant is its namespace: the field is gone, and strict validation names it.
    BadInput("camp-names-a-tenant", "Campaign", {"spec.tenant": "globex"}, "spec.tenant", strict=True),
    BadInput(
        "camp-unknown-field",
        "Campaign",
        {"spec.template.bcc": "boss@acme-mail.test"},
        "spec.template.bcc",
        strict=True,
    ),
]


# Edge values the rules must still accept, so the bad-input table cannot pass by refusing everything.
GOOD_INPUT = [
    BadInput(
        "mbx-secret-ref-only", "Mailbox", {"spec.credentials": {"secretRef": {"name": "carol-smtp"}}}, ""
    ),
    BadInput("mbx-paused-with-reason", "Mailbox", {"spec.paused": True, "spec.pauseReason": "holiday"}, ""),
    BadInput("pool-warmup-start-equals-max", "MailboxPool", {"spec.warmup.startVolume": 30}, ""),
    BadInput("pool-warmup-28-days", "MailboxPool", {"spec.warmup.days": 28}, ""),
    BadInput("pool-equal-replicas", "MailboxPool", {"spec.workers.minReplicas": 2}, ""),
    BadInput(
        "pool-exists-expression",
        "MailboxPool",
        {"spec.selector": {"matchExpressions": [{"key": "pot.dev/pool", "operator": "Exists"}]}},
        "",
    ),
    BadInput("pool-name-52-chars", "MailboxPool", {"metadata.name": "p" * 52}, ""),
    BadInput(
        "camp-schedule-in-order",
        "Campaign",
        {"spec.schedule": {"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T09:00:01Z"}},
        "",
    ),
    BadInput("camp-import-only", "Campaign", {"spec.recipients": {"importName": "welcome-list"}}, ""),
    BadInput(
        "camp-mailto-only",
        "Campaign",
        {"spec.unsubscribe": {"mailto": "unsubscribe@acme-mail.test", "oneClick": False}},
        "",
    ),
]


@pytest.mark.parametrize("case", GOOD_INPUT, ids=lambda c: c.id)
def test_edge_values_are_accepted(crds: ControlPlane, bad_input_namespace: str, case: BadInput) -> None:
    manifest = _manifest(case, case.edits)
    crds.kubectl("apply", "--server-side", "--dry-run=server", "-n", bad_input_namespace, "-f", "-",
                 input=json.dumps(manifest))  # fmt: skip


def _manifest(case: BadInput, edits: dict[str, Any] | None) -> dict[str, Any]:
    obj = copy.deepcopy(BASES[case.kind])
    obj["metadata"] = {"name": case.id}
    for path, value in (edits or {}).items():
        _edit(obj, path, value)
    return obj


def test_bad_input_table_is_large_and_distinct() -> None:
    assert len(BAD_INPUT) >= 25
    assert len({c.id for c in BAD_INPUT}) == len(BAD_INPUT)


@pytest.mark.parametrize("case", BAD_INPUT, ids=lambda c: c.id)
def test_bad_input_is_rejected_naming_the_field(
    crds: ControlPlane, bad_input_namespace: str, case: BadInput
) -> None:
    ns = bad_input_namespace
    if case.update:
        crds.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=json.dumps(_manifest(case, None)))
        patch: dict[str, Any] = {}
        for path, value in case.edits.items():
            _edit(patch, path, value)
        done = crds.kubectl(
            "patch",
            case.kind.lower(),
            case.id,
            "-n",
            ns,
            "--type=merge",
            "-p",
            json.dumps(patch),
            check=False,
        )
    else:
        verb = ("create", "--validate=strict") if case.strict else ("apply", "--server-side")
        manifest = json.dumps(_manifest(case, case.edits))
        done = crds.kubectl(*verb, "-n", ns, "-f", "-", input=manifest, check=False)
    assert done.returncode != 0, f"accepted: {done.stdout}"
    assert case.field in done.stderr, done.stderr
    stored = crds.kubectl("get", case.kind.lower(), case.id, "-n", ns, "-o", "json", check=False)
    if case.update:
        # the rejected patch left the stored object as it was
        assert json.loads(stored.stdout)["spec"] == _stored_spec(crds, case, ns)
    else:
        assert stored.returncode != 0 and "NotFound" in stored.stderr, stored.stdout


def _stored_spec(crds: ControlPlane, case: BadInput, ns: str) -> dict[str, Any]:
    # What the valid manifest stores (defaults applied), via a dry run of the same apply.
    dry = crds.kubectl(
        "apply", "--server-side", "--dry-run=server", "--force-conflicts", "-n", ns, "-o", "json", "-f", "-",
        input=json.dumps(_manifest(case, None)),
    )  # fmt: skip
    spec: dict[str, Any] = json.loads(dry.stdout)["spec"]
    return spec
