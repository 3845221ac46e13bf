"""The Helm chart offline: lint, every ci scenario renders, the strict schema, CRD sync and pod security."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:  # conftest is pytest's, not importable at run time under --import-mode=importlib
    from conftest import Tools

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "pot"
KUBE_VERSION = "1.35.4"

CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))


def render(tools: Tools, *args: str, namespace: str = "pot-system") -> list[dict[str, Any]]:
    out = tools.run(
        tools.helm, "template", "pot", str(CHART), "-n", namespace, "--kube-version", KUBE_VERSION, *args
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_helm_lint_is_clean(tools: Tools) -> None:
    out = tools.run(tools.helm, "lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION).stdout
    assert "0 chart(s) failed" in out


def test_every_scenario_has_a_values_file() -> None:
    names = {p.name for p in CI_VALUES}
    assert {
        "default-values.yaml",
        "cluster-wide-values.yaml",
        "multi-namespace-values.yaml",
        "monitoring-values.yaml",
        "standalone-values.yaml",
        "networkpolicy-values.yaml",
        "deliverability-values.yaml",
        "no-vault-values.yaml",
        "tenancy-values.yaml",
    } <= names


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_ci_scenario_renders_with_restricted_pods(tools: Tools, values: Path) -> None:
    docs = render(tools, "-f", str(values))
    (deployment,) = by_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        # Connection URLs carry passwords: they come from a Secret, never as a plain value.
        for env in container["env"]:
            if env["name"] in {"POT_DATABASE_URL", "POT_REDIS_URL", "POT_VAULT_TOKEN"}:
                assert "value" not in env and "secretKeyRef" in env["valueFrom"], env
    # The operator and the workers never share an identity.
    accounts = {d["metadata"]["name"] for d in by_kind(docs, "ServiceAccount")}
    assert pod["serviceAccountName"] in accounts
    worker_sa = next(
        e["value"] for e in pod["containers"][0]["env"] if e["name"] == "POT_WORKER_SERVICE_ACCOUNT"
    )
    assert worker_sa in accounts and worker_sa != pod["serviceAccountName"]


def test_default_install_is_namespaced_with_a_standby(tools: Tools) -> None:
    docs = render(tools)
    (deployment,) = by_kind(docs, "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert deployment["spec"]["replicas"] == 2
    assert env["POT_PEERING"] == "default"
    assert env["POT_NAMESPACE"] == "pot-system"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "pot-operator",
        "--namespace=pot-system",
    ]
    assert [d["metadata"]["namespace"] for d in by_kind(docs, "KopfPeering")] == ["pot-system"]
    # Namespaced: the pot.dev rules come in a Role, and no ClusterRole grants them.
    assert [r["metadata"]["namespace"] for r in by_kind(docs, "Role")] == ["pot-system"]
    for cluster_role in by_kind(docs, "ClusterRole"):
        groups = {g for rule in cluster_role["rules"] for g in rule["apiGroups"]}
        assert groups <= {"apiextensions.k8s.io", "kopf.dev"}, cluster_role["metadata"]["name"]


def test_an_image_digest_pins_the_operator_and_the_workers_it_starts(tools: Tools) -> None:
    digest = "sha256:" + "ab" * 32
    for args, expected in (
        ((), "ghcr.io/pot-dev/pot:"),
        (("--set", f"image.digest={digest}"), f"ghcr.io/pot-dev/pot@{digest}"),
    ):
        (deployment,) = by_kind(render(tools, *args), "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert container["image"].startswith(expected)
        assert env["POT_WORKER_IMAGE"] == container["image"]


def test_the_transcript_store_reaches_the_operator_only_when_set(tools: Tools) -> None:
    def env(*args: str) -> dict[str, Any]:
        (deployment,) = by_kind(render(tools, *args), "Deployment")
        return {
            e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        }

    assert not [name for name in env() if "TRANSCRIPTS" in name]
    on = env("--set", "transcripts.endpoint=https://s3.example:9000", "--set", "transcripts.bucket=pot-raw")
    assert (on["POT_WORKER_TRANSCRIPTS_ENDPOINT"], on["POT_WORKER_TRANSCRIPTS_BUCKET"]) == (
        "https://s3.example:9000",
        "pot-raw",
    )
    assert on["POT_WORKER_TRANSCRIPTS_VAULT_PATH"] == "transcripts"
    assert not any("ACCESS_KEY" in name or "SECRET_KEY" in name for name in on)
    for bad, named in (
        (["--set", "transcripts.vaultPath=../x"], "vaultPath"),
        (["--set", "transcripts.endpoint=https://s3.example/bucket"], "endpoint"),
        (["--set", "transcripts.endpoint=https://s3.example", "--set", "vault.address="], "vault.address"),
    ):
        refused = tools.run_unchecked(tools.helm, "template", "pot", str(CHART), *bad)
        assert refused.returncode != 0 and named in refused.stderr, (bad, refused.stderr)


def test_multi_namespace_install_grants_each_namespace_and_no_other(tools: Tools) -> None:
    docs = render(tools, "-f", str(CHART / "ci" / "multi-namespace-values.yaml"))
    assert sorted(r["metadata"]["namespace"] for r in by_kind(docs, "Role")) == ["clients-a", "clients-b"]
    assert sorted(r["metadata"]["namespace"] for r in by_kind(docs, "RoleBinding")) == [
        "clients-a",
        "clients-b",
    ]
    worker_accounts = [d for d in by_kind(docs, "ServiceAccount") if d["metadata"]["name"] == "pot-worker"]
    assert sorted(d["metadata"]["namespace"] for d in worker_accounts) == [
        "clients-a",
        "clients-b",
        "pot-system",
    ]
    (deployment,) = by_kind(docs, "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POT_NAMESPACE"] == "clients-a,clients-b"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["pot-operator", "--namespace=clients-a", "--namespace=clients-b"]
    assert env["POT_VAULT_MOUNT"] == "kv/pot"


def operator_env(docs: list[dict[str, Any]]) -> dict[str, str | None]:
    (deployment,) = by_kind(docs, "Deployment")
    return {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_deliverability_settings_reach_the_operator(tools: Tools) -> None:
    from pot_deliverability.dnsbl import ZoneKind, parse_zones
    from pot_operator.config import Settings

    env = operator_env(render(tools, "-f", str(CHART / "ci" / "deliverability-values.yaml")))
    assert env["POT_DNSBL_ZONES"] == "zen.spamhaus.org,domain:dbl.spamhaus.org"
    assert env["POT_TELEGRAM_API_URL"] == "https://chat-proxy.example.internal/telegram"
    assert env["POT_SLACK_WEBHOOK_URL"] == "https://chat-proxy.example.internal"
    # What the operator makes of them (its own parser, not a string match on our side).
    settings = Settings.from_env({k: v for k, v in env.items() if v is not None})
    assert (settings.preflight_cache, settings.domain_recheck, settings.alert_dedup) == (900, 1800, 14400)
    assert [(z.zone, z.kind) for z in parse_zones(settings.dnsbl_zones)] == [
        ("zen.spamhaus.org", ZoneKind.IP),
        ("dbl.spamhaus.org", ZoneKind.DOMAIN),
    ]


def test_default_install_has_no_blocklists_and_the_operators_own_defaults(tools: Tools) -> None:
    from pot_operator.config import Settings

    env = operator_env(render(tools))
    assert env["POT_DNSBL_ZONES"] == ""  # blocklist checks off until zones are chosen
    assert "POT_SLACK_WEBHOOK_URL" not in env and "POT_TELEGRAM_API_URL" not in env
    settings = Settings.from_env({k: v for k, v in env.items() if v is not None})
    defaults = Settings()
    assert (settings.preflight_cache, settings.domain_recheck, settings.alert_dedup) == (
        defaults.preflight_cache,
        defaults.domain_recheck,
        defaults.alert_dedup,
    )


def test_large_durations_render_as_plain_integers(tools: Tools, tmp_path: Path) -> None:
    # Helm reads numbers in a values file as floats; without `int` 70 days would render as
    # "6.048e+06", which a person reading `kubectl describe` (or any integer parser) trips over.
    values = tmp_path / "values.yaml"
    values.write_text("deliverability:\n  domainRecheckSeconds: 6048000\n")
    env = operator_env(render(tools, "-f", str(values)))
    assert env["POT_DOMAIN_RECHECK"] == "6048000"


@pytest.mark.parametrize(
    ("override", "where"),
    [
        # One zone per item: a comma inside one would reach the operator as two zones nobody listed.
        (
            r"deliverability.blocklistZones[0]=zen.spamhaus.org\,bl.example",
            "/deliverability/blocklistZones/0",
        ),
        ("deliverability.blocklistZones[0]=https://zen.spamhaus.org", "/deliverability/blocklistZones/0"),
        # A recheck on every scan would hammer the lists (and Spamhaus blocks heavy askers).
        ("deliverability.domainRecheckSeconds=5", "/deliverability/domainRecheckSeconds"),
        ("deliverability.alertDedupSeconds=-1", "/deliverability/alertDedupSeconds"),
        ("config.slackWebhookUrl=hooks.slack.com", "/config/slackWebhookUrl"),
    ],
)
def test_schema_rejects_bad_deliverability_values(tools: Tools, override: str, where: str) -> None:
    done = tools.run_unchecked(tools.helm, "template", "pot", str(CHART), "--set", override)
    assert done.returncode != 0
    assert f"at '{where}'" in done.stderr, done.stderr


def secret_rules(docs: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    """(kind, namespace, verbs) of every Role or ClusterRole rule on core Secrets."""
    return [
        (d["kind"], d["metadata"].get("namespace", ""), rule["verbs"])
        for d in docs
        if d["kind"] in ("Role", "ClusterRole")
        for rule in d["rules"]
        if "" in rule["apiGroups"] and "secrets" in rule["resources"]
    ]


def test_with_vault_the_operator_reads_no_secret_and_no_cleartext_auth_is_allowed(tools: Tools) -> None:
    from pot_operator.config import Settings

    for values in ([], ["-f", str(CHART / "ci" / "cluster-wide-values.yaml")]):
        docs = render(tools, *values)
        assert secret_rules(docs) == []
        env = operator_env(docs)
        settings = Settings.from_env({k: v for k, v in env.items() if v is not None})
        assert not settings.allow_secret_refs and not settings.allow_plaintext_auth
        assert settings.worker_image_allowlist == () and settings.vault_tenant_prefix == "pot"
        assert settings.worker_vault_role == "pot-worker-{namespace}"
    # Deployments: read by name, created and scaled; never listed, watched or deleted.
    for role in by_kind(render(tools), "Role"):
        verbs = [rule["verbs"] for rule in role["rules"] if "deployments" in rule["resources"]]
        assert verbs == [["get", "create", "patch"]]


def test_without_vault_secret_references_are_read_by_name_in_served_namespaces_only(tools: Tools) -> None:
    from pot_operator.config import Settings

    docs = render(tools, "-f", str(CHART / "ci" / "no-vault-values.yaml"))
    assert secret_rules(docs) == [("Role", "pot-system", ["get"])]
    env = operator_env(docs)
    assert env["POT_VAULT_ADDR"] == "" and env["POT_ALLOW_SECRET_REFS"] == "true"
    assert Settings.from_env({k: v for k, v in env.items() if v is not None}).allow_secret_refs


def test_the_admins_tenancy_rules_reach_the_operator(tools: Tools) -> None:
    from pot_operator.config import Settings

    env = operator_env(render(tools, "-f", str(CHART / "ci" / "tenancy-values.yaml")))
    settings = Settings.from_env({k: v for k, v in env.items() if v is not None})
    assert settings.vault_tenant_prefix == "tenants/pot"
    assert settings.allow_plaintext_auth and settings.allow_secret_refs
    assert settings.worker_image_allowlist == (
        "registry.example.internal/pot:0.1.0-debug",
        "registry.example.internal/pot@sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
    )
    # The chart's own image stays the default the operator gives every pool.
    assert settings.worker_image == env["POT_WORKER_IMAGE"]


@pytest.mark.parametrize(
    ("override", "where"),
    [
        # One image per item: a comma would smuggle a second image past the person reviewing values.
        (r"workers.allowedImages[0]=a.example/w:1\,b.example/w:2", "/workers/allowedImages/0"),
        ("vault.tenantPrefix=../pot", "/vault/tenantPrefix"),
        ("vault.tenantPrefix=/pot", "/vault/tenantPrefix"),
        ("credentials.secretRefs=sometimes", "/credentials/secretRefs"),
        ("security.allowPlaintextAuth=yes", "/security/allowPlaintextAuth"),
    ],
)
def test_schema_rejects_bad_tenancy_values(tools: Tools, override: str, where: str) -> None:
    done = tools.run_unchecked(tools.helm, "template", "pot", str(CHART), "--set", override)
    assert done.returncode != 0
    assert f"at '{where}'" in done.stderr, done.stderr


def test_cluster_wide_install_uses_cluster_peering(tools: Tools) -> None:
    docs = render(tools, "-f", str(CHART / "ci" / "cluster-wide-values.yaml"))
    assert [d["metadata"]["name"] for d in by_kind(docs, "ClusterKopfPeering")] == ["pot-cluster"]
    assert by_kind(docs, "KopfPeering") == [] and by_kind(docs, "Role") == []
    names = {d["metadata"]["name"] for d in by_kind(docs, "ClusterRole")}
    assert names == {"pot-operator", "pot-operator-cluster"}
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == ["pot-operator"]


def test_monitoring_scenario_renders_rule_and_dashboard(tools: Tools) -> None:
    docs = render(tools, "-f", str(CHART / "ci" / "monitoring-values.yaml"))
    kinds = {d["kind"] for d in docs}
    assert {"ServiceMonitor", "PodMonitor", "PrometheusRule", "ConfigMap"} <= kinds
    (configmap,) = by_kind(docs, "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert set(configmap["data"]) == {"pot-fleet.json"}


def test_several_replicas_without_peering_are_refused(tools: Tools) -> None:
    done = tools.run_unchecked(
        tools.helm, "template", "pot", str(CHART), "--set", "operator.peering.enabled=false"
    )
    assert done.returncode != 0
    assert "needs operator.peering.enabled" in done.stderr


@pytest.mark.parametrize(
    "override",
    [
        "unknownTopLevel=1",
        "operator.replica=3",  # a typo of replicas
        "vault.token=s.secret",  # secrets have no place in values
        "metrics.serviceMonitor.scrapeTimeout=10s",
        "networkPolicy.metricsFrom[0].ipBlock.cidr=10.0.0.0/8",
    ],
)
def test_schema_rejects_unknown_keys(tools: Tools, override: str) -> None:
    done = tools.run_unchecked(tools.helm, "template", "pot", str(CHART), "--set", override)
    assert done.returncode != 0
    assert "additional properties" in done.stderr.lower() or "additionalproperties" in done.stderr.lower(), (
        done.stderr
    )


def test_schema_forbids_additional_properties_on_every_object() -> None:
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    open_objects: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            # A map of strings (labels, annotations) is closed by its value type; `global` is Helm's.
            closed = "additionalProperties" in node or "$ref" in node or where.endswith("/global")
            if node.get("type") == "object" and not closed:
                open_objects.append(where)
            for key, child in node.items():
                walk(child, f"{where}/{key}")
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{where}/{i}")

    walk(schema, "")
    assert open_objects == []


def test_chart_crds_equal_the_generated_ones() -> None:
    generated = {p.name: p.read_text() for p in (REPO / "crds").glob("*.yaml")}
    in_chart = {
        p.name: p.read_text() for p in (CHART / "crds").glob("*.yaml") if p.name != "kopf-peerings.yaml"
    }
    assert generated, "crds/ is empty: run `make crds`"
    assert in_chart == generated, "charts/pot/crds drifted from crds/: run charts/sync-crds.sh"


def test_every_rbac_rule_says_why() -> None:
    lines = (CHART / "templates" / "rbac.yaml").read_text().splitlines()
    rules = [i for i, line in enumerate(lines) if line.lstrip().startswith("- apiGroups:")]
    assert len(rules) >= 8
    for i in rules:
        above = lines[i - 1].strip()
        if above.startswith("{{"):  # a conditional rule: its comment sits above the condition
            above = lines[i - 2].strip()
        assert above.startswith("#"), f"rbac.yaml line {i + 1} has no comment saying why"


def test_operator_reads_every_variable_the_chart_sets() -> None:
    template = (CHART / "templates" / "operator-deployment.yaml").read_text()
    names = set(re.findall(r"\bPOT_[A-Z0-9_]+", template))
    sources = [REPO / "docs" / "contracts.md", *(REPO / "operator" / "pot_operator").rglob("*.py")]
    read = {n for path in sources for n in re.findall(r"\bPOT_[A-Z0-9_]+", path.read_text())}
    assert names - read == set()


def test_retention_reaches_the_operator_and_a_window_shorter_than_health_is_refused(tools: Tools) -> None:
    (deployment,) = by_kind(render(tools, "--set", "retention.eventsDays=45"), "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POT_EVENTS_RETENTION_DAYS"] == "45"
    (deployment,) = by_kind(render(tools), "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POT_EVENTS_RETENTION_DAYS"] == "90"
    too_short = ("--set", "retention.eventsDays=7")
    refused = tools.run_unchecked(tools.helm, "template", "pot", str(CHART), *too_short)
    assert refused.returncode != 0 and "eventsDays" in refused.stderr
