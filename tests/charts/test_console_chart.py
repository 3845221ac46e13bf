"""The console's chart templates (console-*.yaml): off by default; when on, never unauthenticated, a
restricted pod, and RBAC that lets the console review people and people be granted exactly what they do.

The chart's values.schema.json does not know `console` yet, so these render with schema validation off.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pot_stack.controlplane import ControlPlane

if TYPE_CHECKING:  # conftest is pytest's, not importable at run time under --import-mode=importlib
    from conftest import Tools

CHART = Path(__file__).resolve().parents[2] / "charts" / "pot"
ON = ("--set", "console.enabled=true", "--set", "metrics.service.enabled=true")


def render(tools: Tools, *args: str) -> list[dict[str, Any]]:
    out = tools.run(tools.helm, "template", "pot", str(CHART), "-n", "pot-system", *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def console_docs(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (d["kind"], d["metadata"]["name"]): d
        for d in docs
        if (d["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "console"
    }


def test_off_by_default(tools: Tools) -> None:
    assert console_docs(render(tools)) == {}


def test_on_it_reviews_every_person_in_a_restricted_pod(tools: Tools) -> None:
    docs = console_docs(render(tools, *ON))
    assert set(docs) == {
        ("ServiceAccount", "pot-console"),
        ("ClusterRole", "pot-console"),
        ("ClusterRoleBinding", "pot-console"),
        ("ClusterRole", "pot-console-viewer"),
        ("ClusterRole", "pot-console-operator"),
        ("Deployment", "pot-console"),
        ("Service", "pot-console"),
    }
    pod = docs[("Deployment", "pot-console")]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][:3] == ["potctl", "console", "--auth=kubernetes"]
    assert pod["serviceAccountName"] == "pot-console" and pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    env = {e["name"]: e for e in container["env"]}
    assert "secretKeyRef" in env["POT_DATABASE_URL"]["valueFrom"]  # a password never as a plain value
    assert env["POT_OPERATOR_METRICS_URL"]["value"].endswith(".svc:9090/metrics")
    own = docs[("ClusterRole", "pot-console")]["rules"]
    assert {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]} in own
    assert {
        "apiGroups": ["authorization.k8s.io"],
        "resources": ["subjectaccessreviews"],
        "verbs": ["create"],
    } in own
    viewer = docs[("ClusterRole", "pot-console-viewer")]["rules"]
    assert not any("patch" in r["verbs"] or "tools" in r["resources"] for r in viewer)


def test_the_apiserver_accepts_it(tools: Tools, kube: ControlPlane) -> None:
    manifests = [d for d in console_docs(render(tools, *ON)).values()]
    kube.kubectl("create", "namespace", "pot-system", check=False)
    done = kube.kubectl(
        "apply", "--dry-run=server", "-f", "-", input="\n---\n".join(yaml.safe_dump(d) for d in manifests)
    )
    assert done.stdout.count("(server dry run)") == len(manifests)
