"""The contract every local-stack server follows; used by pot_stack.stack (make up) and the test fixtures."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def free_port() -> int:
    """A free TCP port on loopback (the kernel picks it; races are rare enough for a test stack)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, log: Path | None = None) -> None:
    """Poll `check` until it is true; on timeout raise with the tail of the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    tail = ""
    if log is not None and log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    raise TimeoutError(f"{what} did not become ready within {timeout:.0f}s\n{tail}")


class Service:
    """One server of the local stack.

    `start()` starts it (detached: it outlives the Python process that started it, so `make up` can
    return) and blocks until it answers; `stop()` stops it and everything it spawned; `env()` gives
    the `POT_*` (and KUBECONFIG) variables that point clients at it. `pids()` is what `make down`
    and the fixtures record so nothing is left behind. Each service keeps its log at `log_path`.
    """

    name: str = "service"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = root / "logs" / f"{self.name}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a detached child in its own session, output appended to the log."""
        out = open(log or self.log_path, "ab")  # noqa: SIM115 - the child owns the handle
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
        out.close()
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for proc in reversed(self.procs):
            kill_group(proc.pid)
        self.procs.clear()


def kill_group(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group led by `pid`, then SIGKILL what is left after `timeout`."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
