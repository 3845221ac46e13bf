"""pytest fixtures for the local Kubernetes control plane; registered as a plugin by tests/conftest.py."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, config

from pot_stack.controlplane import ControlPlane
from pot_stack.openbao import OpenBao, enable_kubernetes_auth


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """A started control plane shared by the session; its logs stay on disk when a test failed."""
    root = tmp_path_factory.mktemp("kube")
    plane = ControlPlane(root)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()
        if request.session.testsfailed:
            _tell(
                request, f"control plane logs kept in {root / 'logs'} (kubeconfig {plane.admin_kubeconfig})"
            )
        else:
            # etcd preallocates its WAL; no reason to keep it around for passing runs
            shutil.rmtree(plane.dir / "etcd", ignore_errors=True)


def _tell(request: pytest.FixtureRequest, line: str) -> None:
    # Session teardown output is captured and dropped for passing tests; the terminal reporter is not.
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line, yellow=True)
    else:
        print(line)


@pytest.fixture(scope="session")
def kube_api(kube: ControlPlane) -> Iterator[client.ApiClient]:
    """A kubernetes.client.ApiClient authenticated as the admin (system:masters)."""
    api = config.new_client_from_config(config_file=str(kube.admin_kubeconfig))  # type: ignore[no-untyped-call]
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def namespace(kube_api: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted afterwards (without waiting for it to go)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug}-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except client.ApiException as err:
            if err.status != 404:  # a test may delete its own namespace
                raise


@pytest.fixture(scope="module")
def vault_kube(kube: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """OpenBao on disk (so a test may `stop()` and `start()` it: same data, tokens and leases, sealed for
    a moment) with kubernetes auth against `kube` and POT's policies and roles, as `make up` sets it
    up; `.token` is the root token."""
    bao = OpenBao(tmp_path_factory.mktemp("vault-kube"), persistent=True)
    bao.start()
    try:
        enable_kubernetes_auth(bao, kube)
        yield bao
    finally:
        bao.stop()
