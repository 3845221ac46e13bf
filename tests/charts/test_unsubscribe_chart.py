"""The unsubscribe endpoint's chart templates (unsubscribe-*.yaml, its NetworkPolicy): off by default;
when on, a restricted pod running pot-unsubscribe with the database URL from a Secret, every POT_*
variable it sets read by the program, an Ingress for the pages only, and the apiserver accepts it all."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from pot_stack.controlplane import ControlPlane

if TYPE_CHECKING:  # conftest is pytest's, not importable at run time under --import-mode=importlib
    from conftest import Tools

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "pot"
ON = ("--set", "unsubscribe.enabled=true")
INGRESS = (
    *ON,
    "--set",
    "unsubscribe.ingress.enabled=true",
    "--set",
    "unsubscribe.ingress.host=unsub.example.com",
    "--set",
    "unsubscribe.ingress.className=nginx",
    "--set",
    "unsubscribe.ingress.tls.secretName=unsub-tls",
    "--set",
    "unsubscribe.trustedProxies={10.0.0.0/8,192.168.0.1}",
    "--set",
    "unsubscribe.secretName=pot-unsubscribe-env",
    "--set",
    "networkPolicy.enabled=true",
)


def render(tools: Tools, *args: str) -> list[dict[str, Any]]:
    out = tools.run(tools.helm, "template", "pot", str(CHART), "-n", "pot-system", *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def unsubscribe_docs(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (d["kind"], d["metadata"]["name"]): d for d in docs if d["metadata"]["name"].endswith("-unsubscribe")
    }


def test_off_by_default(tools: Tools) -> None:
    assert unsubscribe_docs(render(tools)) == {}
    assert unsubscribe_docs(render(tools, "--set", "networkPolicy.enabled=true")) == {}


def test_on_it_runs_pot_unsubscribe_in_a_restricted_pod(tools: Tools) -> None:
    docs = unsubscribe_docs(render(tools, *ON))
    assert set(docs) == {
        ("ServiceAccount", "pot-unsubscribe"),
        ("Deployment", "pot-unsubscribe"),
        ("Service", "pot-unsubscribe"),
        ("PodDisruptionBudget", "pot-unsubscribe"),
    }
    deployment = docs[("Deployment", "pot-unsubscribe")]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["pot-unsubscribe"]
    assert pod["serviceAccountName"] == "pot-unsubscribe" and pod["securityContext"]["runAsNonRoot"] is True
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    env = {e["name"]: e for e in container["env"]}
    assert env["POT_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "pot-env",
        "key": "POT_DATABASE_URL",
    }
    assert "POT_REDIS_URL" not in env and "POT_VAULT_TOKEN" not in env
    assert env["POT_VAULT_ROLE"]["value"] == "pot-unsubscribe"
    assert env["POT_LISTEN_HOST"]["value"] == "0.0.0.0" and env["POT_TRUSTED_PROXIES"]["value"] == ""
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080, "metrics": 9102}


def test_the_program_reads_every_variable_the_chart_sets(tools: Tools) -> None:
    from pot_unsubscribe.config import UnsubscribeSettings

    deployment = unsubscribe_docs(render(tools, *INGRESS))[("Deployment", "pot-unsubscribe")]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    names = {e["name"] for e in container["env"]}
    read = {"POT_" + f.upper() for f in UnsubscribeSettings.model_fields}
    vault = set(
        re.findall(r"POT_VAULT_[A-Z0-9_]+", (REPO / "common" / "pot_common" / "vault.py").read_text())
    )
    assert names - read - vault == set()


def test_with_an_ingress_only_the_pages_are_routed_and_proxies_are_believed(tools: Tools) -> None:
    docs = unsubscribe_docs(render(tools, *INGRESS))
    ingress = docs[("Ingress", "pot-unsubscribe")]["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [{"hosts": ["unsub.example.com"], "secretName": "unsub-tls"}]
    (rule,) = ingress["rules"]
    assert rule["host"] == "unsub.example.com"
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "pot-unsubscribe", "port": {"name": "http"}}
    container = docs[("Deployment", "pot-unsubscribe")]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["POT_TRUSTED_PROXIES"]["value"] == "10.0.0.0/8,192.168.0.1"
    assert env["POT_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "pot-unsubscribe-env"
    policy = docs[("NetworkPolicy", "pot-unsubscribe")]["spec"]
    assert [r["ports"][0]["port"] for r in policy["ingress"]] == ["http", "metrics"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("--set", "vault.address="), "needs vault.address"),
        (("--set", "unsubscribe.ingress.enabled=true"), "needs unsubscribe.ingress.host"),
        (("--set", "unsubscribe.replicas=0"), "replicas"),
        (("--set", "unsubscribe.ingress.host=Not A Host"), "host"),
        (("--set", "unsubscribe.trustedProxies={everyone}"), "trustedProxies"),
        (("--set", "unsubscribe.rateLimit.perClientPerMinut=3"), "additional properties"),
    ],
)
def test_bad_values_are_refused(tools: Tools, overrides: tuple[str, ...], message: str) -> None:
    done = tools.run_unchecked(tools.helm, "template", "pot", str(CHART), *ON, *overrides)
    assert done.returncode != 0
    assert message.lower() in done.stderr.lower(), done.stderr


def test_the_apiserver_accepts_it(tools: Tools, kube: ControlPlane) -> None:
    manifests = list(unsubscribe_docs(render(tools, *INGRESS)).values())
    kube.kubectl("create", "namespace", "pot-system", check=False)
    done = kube.kubectl(
        "apply", "--dry-run=server", "-f", "-", input="\n---\n".join(yaml.safe_dump(d) for d in manifests)
    )
    assert done.stdout.count("(server dry run)") == len(manifests)
