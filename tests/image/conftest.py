"""Fixtures for the image smoke tests: POT's OCI image, built by image/build.sh and run with runc.

The image is built once (or reused when its inputs have not changed), unpacked with umoci, and each
container runs as a Kubernetes pod would run it: the image's user, a read-only root filesystem, no
capabilities, no new privileges. The host's network namespace is shared so the programs reach the
local stack's servers on loopback. runc, not crun: crun 1.8 refuses this machine's hybrid cgroup
layout ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2").
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Built:
    """What image/build.sh printed."""

    archive: Path
    digest: str
    config: dict[str, Any]
    # The unpacked size (the layer's tar), as build.sh prints it.
    size_mb: float


class Container:
    """One container started in the background; `stop()` sends SIGTERM and waits for it to exit."""

    def __init__(self, runner: ImageRunner, name: str, process: subprocess.Popen[str]) -> None:
        self.runner, self.name, self.process = runner, name, process

    def stop(self, timeout: float = 30) -> tuple[int, str]:
        if self.process.poll() is None:
            self.runner.runc("kill", self.name, "TERM", check=False)
        try:
            output, _ = self.process.communicate(timeout=timeout)
        finally:
            self.runner.runc("delete", "--force", self.name, check=False)
        return self.process.returncode, output


class ImageRunner:
    """Runs commands in containers of the unpacked image, each from its own OCI runtime config."""

    def __init__(self, rootfs: Path, base_config: dict[str, Any], work: Path) -> None:
        self.rootfs, self.base_config, self.work = rootfs, base_config, work
        self.state = work / "runc-state"
        self.state.mkdir()

    def runc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runc", "--root", str(self.state), *args], capture_output=True, text=True, check=check
        )

    def _bundle(
        self, args: Sequence[str], env: Mapping[str, str], binds: Mapping[str, Path]
    ) -> tuple[str, Path]:
        name = f"pot-smoke-{uuid.uuid4().hex[:10]}"
        config = json.loads(json.dumps(self.base_config))
        process = config["process"]
        process["terminal"] = False
        process["args"] = list(args)
        process["env"] = [*process["env"], *(f"{key}={value}" for key, value in env.items())]
        # As the worker Deployments run it: every capability dropped, no privilege escalation.
        process["capabilities"] = {key: [] for key in process.get("capabilities", {})}
        process["noNewPrivileges"] = True
        config["root"] = {"path": str(self.rootfs), "readonly": True}
        config["hostname"] = name
        # The host's network, so the programs reach the local stack on 127.0.0.1.
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "network"]
        # The host's resolver configuration, as container engines and the kubelet mount one.
        binds = {"/etc/resolv.conf": Path("/etc/resolv.conf"), **binds}
        config["mounts"] = [
            *config["mounts"],
            *(
                {"destination": inside, "type": "bind", "source": str(outside), "options": ["rbind", "ro"]}
                for inside, outside in binds.items()
            ),
        ]
        bundle = self.work / name
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(config))
        return name, bundle

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        binds: Mapping[str, Path] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run to completion; stdout and stderr together in `.stdout`."""
        name, bundle = self._bundle(args, env or {}, binds or {})
        try:
            return subprocess.run(
                ["runc", "--root", str(self.state), "run", "--bundle", str(bundle), name],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                timeout=timeout,
                check=False,
            )
        finally:
            self.runc("delete", "--force", name, check=False)

    def start(
        self, *args: str, env: Mapping[str, str] | None = None, binds: Mapping[str, Path] | None = None
    ) -> Container:
        name, bundle = self._bundle(args, env or {}, binds or {})
        process = subprocess.Popen(
            ["runc", "--root", str(self.state), "run", "--bundle", str(bundle), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        return Container(self, name, process)


def _build() -> Built:
    """image/build.sh --if-stale: installs its tools, builds unless an image of the same inputs is cached."""
    done = subprocess.run(
        ["bash", str(REPO / "image" / "build.sh"), "--if-stale"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"image/build.sh failed:\n{done.stderr[-4000:]}"
    printed = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    archive = Path(printed["archive"])
    with tarfile.open(archive) as layout:

        def blob(digest: str) -> dict[str, Any]:
            member = layout.extractfile(f"blobs/sha256/{digest.removeprefix('sha256:')}")
            assert member is not None
            loaded: dict[str, Any] = json.load(member)
            return loaded

        manifest = blob(printed["digest"])
        config = blob(manifest["config"]["digest"])
    size_mb = float(printed["size_mb"].split()[0])
    return Built(archive, printed["digest"], config, size_mb)


@pytest.fixture(scope="session")
def built() -> Built:
    return _build()


@pytest.fixture(scope="session")
def image(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageRunner]:
    """The image unpacked once per session (umoci: the image's rootfs and runtime config)."""
    work = tmp_path_factory.mktemp("image")
    layout = work / "layout"
    with tarfile.open(built.archive) as archive:
        archive.extractall(layout, filter="data")
    ref = json.loads((layout / "index.json").read_text())["manifests"][0]["annotations"]
    bundle = work / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:{ref['org.opencontainers.image.ref.name']}", str(bundle)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(layout)
    base_config = json.loads((bundle / "config.json").read_text())
    yield ImageRunner(bundle / "rootfs", base_config, work)
    shutil.rmtree(work, ignore_errors=True)
