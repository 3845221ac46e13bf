"""The Containerfile (no container engine here, so its promises are read, not built) matches the chart."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from conftest import Tools

REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = (REPO / "Containerfile").read_text()


def instructions(name: str) -> list[str]:
    return re.findall(rf"^{name}\s+(.+)$", CONTAINERFILE, flags=re.MULTILINE)


def test_build_is_multi_stage_and_runtime_copies_only_the_venv() -> None:
    stages = instructions("FROM")
    assert len(stages) >= 2
    final = CONTAINERFILE[CONTAINERFILE.rindex("\nFROM ") :]
    assert re.findall(r"^COPY\s+(.+)$", final, flags=re.MULTILINE) == ["--from=build /opt/pot /opt/pot"]


def test_runs_as_the_numeric_non_root_user_the_chart_expects(tools: Tools) -> None:
    (user,) = instructions("USER")
    uid, gid = (int(part) for part in user.split(":"))
    assert uid != 0 and gid != 0
    rendered = tools.run(
        tools.helm,
        "template",
        "pot",
        str(REPO / "charts" / "pot"),
        "--show-only",
        "templates/operator-deployment.yaml",
    ).stdout
    pod = yaml.safe_load(rendered)["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (uid, gid)


def test_one_image_runs_either_program() -> None:
    # Worker Deployments pass args: [pot-worker]; an ENTRYPOINT would turn that into an argument.
    assert instructions("ENTRYPOINT") == []
    assert instructions("CMD") == ['["pot-operator"]']
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'pot-operator = "pot_operator.cli:main"' in pyproject
    assert 'pot-worker = "pot_worker.cli:main"' in pyproject
    for package in ("common", "operator", "worker"):
        assert f"COPY {package}/ {package}/" in CONTAINERFILE
