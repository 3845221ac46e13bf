"""Fixtures for the chart, alert, dashboard and Argo CD tests: the tools they run, built or reused."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "pot"
INSTALL_TOOLS = REPO / "charts" / "tools" / "install-tools.sh"
TOOLS_BIN = Path(os.environ.get("POT_TOOLS_DIR", Path.home() / ".cache" / "pot" / "tools")) / "bin"
# The control plane the stack builds; templates are rendered for the same version.
KUBE_VERSION = "1.35.4"


@dataclass(frozen=True)
class Tools:
    helm: Path
    promtool: Path
    luahealth: Path

    def run_unchecked(
        self,
        tool: Path,
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(tool), *args], input=input, env=env, cwd=cwd, capture_output=True, text=True, check=False
        )

    def run(
        self,
        tool: Path,
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a tool, failing the test with its stderr (not just an exit code) when it fails."""
        done = self.run_unchecked(tool, *args, input=input, env=env, cwd=cwd)
        if done.returncode != 0:
            pytest.fail(
                f"{tool.name} {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done


@pytest.fixture(scope="session")
def tools() -> Tools:
    """helm, promtool and the Lua harness from ~/.cache/pot/tools; a warm cache returns at once."""
    subprocess.run(["bash", str(INSTALL_TOOLS)], check=True)
    return Tools(
        helm=TOOLS_BIN / "helm", promtool=TOOLS_BIN / "promtool", luahealth=TOOLS_BIN / "pot-luahealth"
    )
