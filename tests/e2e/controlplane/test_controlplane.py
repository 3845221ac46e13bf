"""The local control plane behaves like a cluster where it matters to POT: controllers, RBAC, tokens, CRDs."""

from __future__ import annotations

import json
import os
import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from pot_stack.controlplane import K8S_VERSION, ControlPlane
from pot_stack.service import wait_until


def _gone(read: Callable[[], object]) -> bool:
    """True once `read()` answers 404."""
    try:
        read()
    except client.ApiException as err:
        return bool(err.status == 404)
    return False


@pytest.fixture
def limited_api(kube: ControlPlane) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(kube.limited_kubeconfig))  # type: ignore[no-untyped-call]
    try:
        yield api
    finally:
        api.close()


def test_apiserver_reports_the_built_version(kube: ControlPlane, kube_api: client.ApiClient) -> None:
    assert client.VersionApi(kube_api).get_code().git_version == K8S_VERSION
    client_version = json.loads(kube.kubectl("version", "--client", "-o", "json").stdout)
    assert client_version["clientVersion"]["gitVersion"] == K8S_VERSION


def test_admin_kubeconfig_is_the_pot_local_context_as_a_master(kube: ControlPlane) -> None:
    assert kube.env() == {"KUBECONFIG": str(kube.admin_kubeconfig)}
    assert kube.kubectl("config", "current-context").stdout.strip() == "pot-local"
    whoami = json.loads(kube.kubectl("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert whoami["username"] == "pot-admin"
    assert "system:masters" in whoami["groups"]


def test_deleting_a_namespace_finishes(kube_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="content"), data={"k": "v"})
    )
    core.delete_namespace(namespace)
    # Without the namespace controller the namespace would stay Terminating forever.
    wait_until(lambda: _gone(lambda: core.read_namespace(namespace)), timeout=30, what="namespace deletion")


def test_deleting_an_owner_collects_its_dependents(kube_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    assert owner.metadata is not None
    ref = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="child", owner_references=[ref]))
    )
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="bystander"))
    )

    core.delete_namespaced_config_map("owner", namespace)

    wait_until(
        lambda: _gone(lambda: core.read_namespaced_config_map("child", namespace)),
        timeout=30,
        what="garbage collection of the child ConfigMap",
    )
    bystander = core.read_namespaced_config_map("bystander", namespace)
    assert bystander.metadata is not None
    assert bystander.metadata.name == "bystander"


def test_limited_user_needs_a_role_binding_to_list_secrets(
    kube_api: client.ApiClient, limited_api: client.ApiClient, namespace: str
) -> None:
    limited = client.CoreV1Api(limited_api)
    with pytest.raises(client.ApiException) as refused:
        limited.list_namespaced_secret(namespace)
    assert refused.value.status == 403

    rbac = client.RbacAuthorizationV1Api(kube_api)
    rbac.create_namespaced_role(
        namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="secret-reader"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["secrets"], verbs=["get", "list"])],
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="secret-reader"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="secret-reader"
            ),
            subjects=[
                client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="User", name="pot-limited")
            ],
        ),
    )

    # The RBAC authorizer learns of new bindings through an informer, so allow it a moment.
    wait_until(lambda: limited.list_namespaced_secret(namespace) is not None, timeout=10, what="RBAC grant")
    with pytest.raises(client.ApiException) as elsewhere:
        limited.list_namespaced_secret("default")
    assert elsewhere.value.status == 403


def test_service_accounts_get_default_accounts_and_tokens(kube_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    wait_until(
        lambda: core.read_namespaced_service_account("default", namespace) is not None,
        timeout=15,
        what="the default ServiceAccount of a fresh namespace",
    )
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="pot-worker"))
    )

    issued = core.create_namespaced_service_account_token(
        "pot-worker",
        namespace,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=["pot-test"], expiration_seconds=600)
        ),
    )

    assert issued.status is not None
    assert issued.status.token

    review = client.AuthenticationV1Api(kube_api).create_token_review(
        client.V1TokenReview(spec=client.V1TokenReviewSpec(token=issued.status.token, audiences=["pot-test"]))
    )
    assert review.status is not None
    assert review.status.authenticated is True
    assert review.status.user is not None
    assert review.status.user.username == f"system:serviceaccount:{namespace}:pot-worker"


def test_apply_crds_waits_until_the_api_is_served(
    kube: ControlPlane, kube_api: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    (tmp_path / "widgets.yaml").write_text(
        textwrap.dedent("""\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: widgets.test.pot.dev
        spec:
          group: test.pot.dev
          scope: Namespaced
          names: {plural: widgets, singular: widget, kind: Widget}
          versions:
            - name: v1
              served: true
              storage: true
              schema:
                openAPIV3Schema:
                  type: object
                  properties:
                    spec: {type: object, properties: {size: {type: integer}}}
        """)
    )

    kube.apply_crds(tmp_path)

    # No retry here: apply_crds promised the API is served the moment it returns.
    created = client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        "test.pot.dev",
        "v1",
        namespace,
        "widgets",
        {"apiVersion": "test.pot.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}},
    )
    assert isinstance(created, dict)
    assert created["spec"] == {"size": 3}
    client.ApiextensionsV1Api(kube_api).delete_custom_resource_definition("widgets.test.pot.dev")


def _port_open(url: str) -> bool:
    host, port = url.split("//")[1].rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


def test_a_second_control_plane_starts_apart_and_stop_leaves_nothing(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path)
    plane.start()
    try:
        pids = plane.pids()
        assert len(pids) == 3
        assert (
            plane.kubectl("get", "namespace", "default", "-o", "name").stdout.strip() == "namespace/default"
        )
        limited = plane.kubectl("get", "secrets", kubeconfig=plane.limited_kubeconfig, check=False)
        assert limited.returncode != 0
        assert "forbidden" in limited.stderr.lower()
    finally:
        plane.stop()

    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not _port_open(plane.server)
    assert not _port_open(plane.etcd_url)
    assert plane.pids() == []
