"""A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) on loopback.

Started by the `kube` test fixture (pot_stack.fixtures_kube) and by `make up` (pot_stack.stack). No
kubelet and no scheduler: POT's local runner reads Deployments itself, so only the API machinery runs.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pot_stack.service import Service, free_port, wait_until

K8S_VERSION = "v1.35.4"
BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "build-controlplane.sh"
CONTEXT = "pot-local"
ADMIN_USER, ADMIN_GROUP = "pot-admin", "system:masters"
LIMITED_USER, LIMITED_GROUP = "pot-limited", "pot:limited"
# Everything a cluster without nodes still needs: namespaces that finish deleting, ownerReference
# garbage collection, default ServiceAccounts and their tokens, kube-root-ca.crt in each namespace,
# and the aggregated admin/edit/view ClusterRoles (empty without their controller) a chart may bind.
# Deployment/ReplicaSet controllers are left out on purpose: there are no nodes to run Pods on.
CONTROLLERS = (
    "namespace-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
)
START_TIMEOUT = 90.0


class KubectlError(subprocess.CalledProcessError):
    """A failed kubectl call; unlike CalledProcessError its message carries kubectl's stderr."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr or ''}".rstrip()


@dataclass(frozen=True)
class _Cert:
    cert_pem: bytes
    key_pem: bytes


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class _Pki:
    """Certificates made fresh for each run, so no key outlives the control plane it was made for."""

    def __init__(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        # A day in the past tolerates clock skew; a year ahead covers a long-lived `make up`.
        self._not_before, self._not_after = (
            now - datetime.timedelta(days=1),
            now + datetime.timedelta(days=365),
        )
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pot-local-ca")])
        self.ca_cert = (
            self._builder(name, self._ca_key.public_key())
            .issuer_name(name)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        self.ca_pem = self.ca_cert.public_bytes(serialization.Encoding.PEM)

    def _builder(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before)
            .not_valid_after(self._not_after)
        )

    def issue(
        self,
        common_name: str,
        *,
        organizations: tuple[str, ...] = (),
        server: bool = False,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
    ) -> _Cert:
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            self._builder(x509.Name(attrs), key.public_key())
            .issuer_name(self.ca_cert.subject)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if dns or ips:
            names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
            names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._ca_key, hashes.SHA256())
        return _Cert(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def _write_private(path: Path, data: bytes) -> None:
    """Write a key (or a kubeconfig holding one) readable by its owner only, even when it existed before."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(data)


def render_kubeconfig(server: str, ca_pem: bytes, client: _Cert, user: str) -> str:
    """A kubeconfig with everything embedded, readable by kubectl, the Python client and kopf."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": b64(client.cert_pem),
                        "client-key-data": b64(client.key_pem),
                    },
                }
            ],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
            "current-context": CONTEXT,
            "preferences": {},
        },
        sort_keys=False,
    )


def locate_binaries() -> Path:
    """POT_CONTROLPLANE_BIN if set, else whatever build-controlplane.sh built (or finds cached)."""
    override = os.environ.get("POT_CONTROLPLANE_BIN")
    if override:
        return Path(override)
    # stderr is inherited so a cold build (minutes) shows its progress instead of looking hung
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=True)
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{BUILD_SCRIPT} printed no binary directory")
    return Path(lines[-1])


class ControlPlane(Service):
    """etcd + kube-apiserver + kube-controller-manager, each in its own session with its own log."""

    name = "controlplane"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.pki_dir = self.dir / "pki"
        self.admin_kubeconfig = root / "kubeconfig"
        self.limited_kubeconfig = root / "kubeconfig-limited"
        self.server = ""
        self.etcd_url = ""
        self.bin_dir = Path()
        self.startup_seconds = 0.0
        self._ssl: ssl.SSLContext | None = None

    def logs(self) -> dict[str, Path]:
        return {
            c: self.root / "logs" / f"{c}.log" for c in ("etcd", "kube-apiserver", "kube-controller-manager")
        }

    def start(self) -> None:
        self.bin_dir = locate_binaries()
        missing = [
            b
            for b in ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
            if not (self.bin_dir / b).is_file()
        ]
        if missing:
            raise FileNotFoundError(f"{', '.join(missing)} missing from {self.bin_dir}")
        began = time.monotonic()
        try:
            self._write_pki()
            self._start_etcd()
            self._start_apiserver()
            self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        self._note(
            f"Control plane {K8S_VERSION} ready at {self.server} in {self.startup_seconds:.1f}s "
            f"(binaries {self.bin_dir}, logs {self.log_path.parent})"
        )

    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.admin_kubeconfig)}

    def stop(self) -> None:
        procs = list(self.procs)
        super().stop()  # reverse start order: controller-manager, apiserver, etcd
        for proc in procs:
            # kill_group already reaped the leader; wait() only clears the Popen's own bookkeeping
            proc.wait(timeout=5)

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        input: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        argv = [
            str(self.bin_dir / "kubectl"),
            "--kubeconfig",
            str(kubeconfig or self.admin_kubeconfig),
            *args,
        ]
        done = subprocess.run(argv, input=input, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            raise KubectlError(done.returncode, argv, done.stdout, done.stderr)
        return done

    def apply_crds(self, crd_dir: Path, timeout: float = 60) -> None:
        """Server-side apply every manifest in `crd_dir`, then wait until each CRD serves its API."""
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd_dir))
        self.kubectl("wait", "--for=condition=Established", f"--timeout={int(timeout)}s", "-f", str(crd_dir))

    # --- startup steps ---------------------------------------------------------------------------

    def _note(self, line: str) -> None:
        with self.log_path.open("a") as log:
            log.write(line + "\n")
        print(f"[{self.name}] {line}", file=sys.stderr)

    def _write_pki(self) -> None:
        self.pki_dir.mkdir(parents=True, exist_ok=True)
        pki = _Pki()
        serving = pki.issue(
            "kube-apiserver",
            server=True,
            dns=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ips=("127.0.0.1", "10.0.0.1"),
        )
        self._admin = pki.issue(ADMIN_USER, organizations=(ADMIN_GROUP,))
        self._limited = pki.issue(LIMITED_USER, organizations=(LIMITED_GROUP,))
        # The controller manager needs every verb on every resource (namespace deletion, GC).
        self._kcm = pki.issue("system:kube-controller-manager", organizations=(ADMIN_GROUP,))
        sa_key = ec.generate_private_key(ec.SECP256R1())
        files = {
            "ca.crt": pki.ca_pem,
            "apiserver.crt": serving.cert_pem,
            "apiserver.key": serving.key_pem,
            "admin.crt": self._admin.cert_pem,
            "admin.key": self._admin.key_pem,
            "sa.key": _pem_key(sa_key),
            "sa.pub": sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        }
        for name, data in files.items():
            _write_private(self.pki_dir / name, data)
        self._ssl = ssl.create_default_context(cafile=str(self.pki_dir / "ca.crt"))
        self._ssl.load_cert_chain(str(self.pki_dir / "admin.crt"), str(self.pki_dir / "admin.key"))

    def _wait(self, proc: subprocess.Popen[bytes], check: Callable[[], bool], what: str, log: Path) -> None:
        """wait_until, but fail at once (with the log tail) if the server exits while we wait."""
        died: list[int] = []

        def ready() -> bool:
            code = proc.poll()
            if code is not None:
                died.append(code)
                return True
            return check()

        wait_until(ready, timeout=START_TIMEOUT, what=what, log=log)
        if died:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            raise RuntimeError(f"{what} exited with code {died[0]} while starting\n{tail}")

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        log = self.logs()["etcd"]
        proc = self.spawn(
            [
                str(self.bin_dir / "etcd"),
                "--name=pot",
                f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=pot=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",  # test data: durability is not worth the fsync latency
                "--log-level=warn",
            ],
            log=log,
        )

        def healthy() -> bool:
            with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as resp:  # noqa: S310
                return b'"health":"true"' in resp.read()

        self._wait(proc, healthy, "etcd", log)

    def _get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"{self.server}{path}", timeout=2, context=self._ssl) as resp:  # noqa: S310
                return int(resp.status)
        except urllib.error.HTTPError as err:
            return int(err.code)

    def _start_apiserver(self) -> None:
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        pki = self.pki_dir
        log = self.logs()["kube-apiserver"]
        proc = self.spawn(
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                # without it the apiserver exits on hosts with no default route
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.dir / 'apiserver-certs'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                # the `kubernetes` Endpoints may not point at loopback; nothing in-cluster needs them
                "--endpoint-reconciler-type=none",
                "--profiling=false",
            ],
            log=log,
        )
        self._wait(proc, lambda: self._get("/readyz") == 200, "kube-apiserver", log)
        for path, cert, user in (
            (self.admin_kubeconfig, self._admin, ADMIN_USER),
            (self.limited_kubeconfig, self._limited, LIMITED_USER),
        ):
            _write_private(path, render_kubeconfig(self.server, self._ca_pem(), cert, user).encode())

    def _ca_pem(self) -> bytes:
        return (self.pki_dir / "ca.crt").read_bytes()

    def _start_controller_manager(self) -> None:
        kcm_kubeconfig = self.dir / "kube-controller-manager.kubeconfig"
        _write_private(
            kcm_kubeconfig, render_kubeconfig(self.server, self._ca_pem(), self._kcm, "kcm").encode()
        )
        log = self.logs()["kube-controller-manager"]
        proc = self.spawn(
            [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kcm_kubeconfig}",
                f"--controllers={','.join(CONTROLLERS)}",
                "--leader-elect=false",
                "--secure-port=0",
                f"--service-account-private-key-file={self.pki_dir / 'sa.key'}",
                f"--root-ca-file={self.pki_dir / 'ca.crt'}",
                "--profiling=false",
            ],
            log=log,
        )
        # The serviceaccount controller is the last link a fresh namespace needs; once it has
        # created `default` in `default`, the ServiceAccount admission plugin lets Pods/SAs through.
        self._wait(
            proc,
            lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default") == 200,
            "kube-controller-manager (default ServiceAccount)",
            log,
        )
