"""The chart on a real apiserver: server-side dry-run, `helm install`, RBAC asked as each ServiceAccount."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pot_stack.controlplane import ControlPlane

if TYPE_CHECKING:
    from conftest import Tools

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "pot"
# What a worker may still do with its token: ask who it is and what it may do. Nothing else.
SELF_REVIEWS = {
    "selfsubjectreviews.authentication.k8s.io",
    "selfsubjectaccessreviews.authorization.k8s.io",
    "selfsubjectrulesreviews.authorization.k8s.io",
}


@dataclass(frozen=True)
class Install:
    kube: ControlPlane
    release: str
    namespace: str

    def account(self, name: str, namespace: str | None = None) -> list[str]:
        ns = namespace or self.namespace
        return [
            f"--as=system:serviceaccount:{ns}:{name}",
            "--as-group=system:serviceaccounts",
            f"--as-group=system:serviceaccounts:{ns}",
        ]

    def can(self, who: list[str], verb: str, resource: str, namespace: str, *extra: str) -> bool:
        done = self.kube.kubectl("auth", "can-i", verb, resource, "-n", namespace, *who, *extra, check=False)
        answer = done.stdout.strip()
        assert answer in {"yes", "no"}, done.stderr
        return answer == "yes"

    @property
    def operator(self) -> list[str]:
        return self.account(f"{self.release}-operator")

    @property
    def worker(self) -> list[str]:
        return self.account(f"{self.release}-worker")


def helm_env(kube: ControlPlane, home: Path) -> dict[str, str]:
    # helm keeps caches and its registry config under these; a test must not touch the user's.
    return {
        **os.environ,
        "KUBECONFIG": str(kube.admin_kubeconfig),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def install(
    tools: Tools, kube: ControlPlane, home: Path, namespaces: list[str], *values: str
) -> Iterator[Install]:
    release = f"pot-{uuid.uuid4().hex[:6]}"
    for ns in namespaces:
        kube.kubectl("create", "namespace", ns)
    env = helm_env(kube, home)
    try:
        # CRDs first, as Helm does: the templates hold a KopfPeering whose kind they define.
        kube.apply_crds(CHART / "crds")
        rendered = tools.run(
            tools.helm, "template", release, str(CHART), "-n", namespaces[0], *values, env=env
        )
        dry = kube.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=rendered.stdout)
        assert "(server dry run)" in dry.stdout
        assert "deployment.apps/" + release + "-operator serverside-applied (server dry run)" in dry.stdout
        tools.run(tools.helm, "install", release, str(CHART), "-n", namespaces[0], *values, env=env)
        yield Install(kube, release, namespaces[0])
    finally:
        tools.run_unchecked(tools.helm, "uninstall", release, "-n", namespaces[0], env=env)
        for ns in namespaces:
            kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture(scope="module")
def default_install(
    tools: Tools, kube: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Install]:
    ns = f"pot-chart-{uuid.uuid4().hex[:6]}"
    yield from install(tools, kube, tmp_path_factory.mktemp("helm"), [ns])


def test_install_created_the_objects(default_install: Install) -> None:
    k, ns, rel = default_install.kube, default_install.namespace, default_install.release
    names = k.kubectl(
        "get", "deployment,serviceaccount,role,rolebinding,service,kopfpeering", "-n", ns, "-o", "name"
    )
    for wanted in (
        f"deployment.apps/{rel}-operator",
        f"serviceaccount/{rel}-operator",
        f"serviceaccount/{rel}-worker",
        f"role.rbac.authorization.k8s.io/{rel}-operator",
        f"service/{rel}-operator-metrics",
        "kopfpeering.kopf.dev/default",
    ):
        assert wanted in names.stdout.split(), wanted
    k.kubectl("get", "clusterrole", f"{rel}-operator-cluster")


@pytest.mark.parametrize(
    ("verb", "resource", "extra"),
    [
        ("watch", "mailboxes.pot.dev", ()),
        ("patch", "mailboxpools.pot.dev", ()),
        ("patch", "mailboxes.pot.dev", ("--subresource=status",)),
        ("patch", "campaigns.pot.dev", ("--subresource=status",)),
        ("create", "deployments.apps", ()),
        ("patch", "deployments.apps", ()),
        ("get", "deployments.apps", ()),
        ("get", "configmaps", ()),
        ("create", "events", ()),
        ("patch", "kopfpeerings.kopf.dev", ()),
        ("list", "customresourcedefinitions.apiextensions.k8s.io", ()),
    ],
)
def test_operator_may_do_its_job(
    default_install: Install, verb: str, resource: str, extra: tuple[str, ...]
) -> None:
    assert default_install.can(default_install.operator, verb, resource, default_install.namespace, *extra)


@pytest.mark.parametrize(
    ("verb", "resource", "where"),
    [
        ("delete", "namespaces", "here"),
        ("create", "mailboxes.pot.dev", "here"),
        ("delete", "campaigns.pot.dev", "here"),
        # With Vault (the default) the operator reads no Secret at all.
        ("get", "secrets", "here"),
        ("list", "secrets", "here"),
        ("watch", "secrets", "here"),
        ("get", "secrets", "kube-system"),
        # Deployments are read by name only: none enumerated, none watched.
        ("list", "deployments.apps", "here"),
        ("watch", "deployments.apps", "here"),
        ("patch", "mailboxes.pot.dev", "default"),
        ("delete", "deployments.apps", "here"),
        ("create", "pods", "here"),
        ("create", "rolebindings.rbac.authorization.k8s.io", "here"),
        ("delete", "customresourcedefinitions.apiextensions.k8s.io", "here"),
    ],
)
def test_operator_may_do_nothing_more(default_install: Install, verb: str, resource: str, where: str) -> None:
    ns = default_install.namespace if where == "here" else where
    assert not default_install.can(default_install.operator, verb, resource, ns)


@pytest.mark.parametrize(
    ("verb", "resource", "extra"),
    [
        ("get", "mailboxes.pot.dev", ()),
        ("patch", "mailboxes.pot.dev", ()),
        ("patch", "mailboxpools.pot.dev", ("--subresource=status",)),
        ("create", "campaigns.pot.dev", ()),
        ("get", "secrets", ()),
        ("list", "secrets", ()),
        ("get", "configmaps", ()),
        ("patch", "deployments.apps", ()),
    ],
)
def test_worker_may_not_touch_the_api(
    default_install: Install, verb: str, resource: str, extra: tuple[str, ...]
) -> None:
    assert not default_install.can(default_install.worker, verb, resource, default_install.namespace, *extra)


def test_worker_holds_no_rule_beyond_self_review(default_install: Install) -> None:
    listing = default_install.kube.kubectl(
        "auth", "can-i", "--list", "-n", default_install.namespace, *default_install.worker
    ).stdout.splitlines()
    resources = {line.split()[0] for line in listing[1:] if line.strip() and not line.startswith(" ")}
    granted = {r for r in resources if not r.startswith("[")}  # "[]" rows are non-resource URLs
    assert granted <= SELF_REVIEWS, granted - SELF_REVIEWS


@pytest.fixture(scope="module")
def two_namespace_install(
    tools: Tools, kube: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Install, list[str]]]:
    tag = uuid.uuid4().hex[:6]
    home, served = f"pot-home-{tag}", [f"pot-a-{tag}", f"pot-b-{tag}"]
    outsider = f"pot-c-{tag}"
    # Without Vault, so Secret references are on: Secret reads must still stay in the served namespaces.
    values = ["--set", f"watch.namespaces={{{served[0]},{served[1]}}}", "--set", "vault.address="]
    kube.kubectl("create", "namespace", outsider)
    try:
        for inst in install(tools, kube, tmp_path_factory.mktemp("helm"), [home, *served], *values):
            yield inst, [*served, outsider]
    finally:
        kube.kubectl("delete", "namespace", outsider, "--wait=false", check=False)


def test_operator_serves_only_the_listed_namespaces(two_namespace_install: tuple[Install, list[str]]) -> None:
    inst, (a, b, outsider) = two_namespace_install
    for ns in (a, b):
        assert inst.can(inst.operator, "patch", "mailboxes.pot.dev", ns)
        assert inst.can(inst.operator, "create", "deployments.apps", ns)
        assert inst.can(inst.operator, "get", "secrets", ns)  # by name (Secret references, no Vault)
        assert not inst.can(inst.operator, "list", "secrets", ns)
        # Workers run in the pool's namespace, so their ServiceAccount must exist there.
        inst.kube.kubectl("get", "serviceaccount", f"{inst.release}-worker", "-n", ns)
    for ns in (outsider, inst.namespace):
        assert not inst.can(inst.operator, "patch", "mailboxes.pot.dev", ns)
        assert not inst.can(inst.operator, "get", "secrets", ns)
