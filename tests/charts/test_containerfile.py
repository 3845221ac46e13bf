"""The Containerfile matches the chart. No container engine here: its promises are read, and its build
stage's `pip install .` is replayed on exactly the files it copies."""

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


def test_the_build_stage_packages_every_file_the_programs_read(tmp_path: Path) -> None:
    """Build the wheel from exactly what the build stage copies, as `pip install .` there would, and
    check it holds every data file of the packages (SQL the programs read at run time) and that the
    programs import from it rather than from this checkout."""
    import subprocess
    import sys
    import zipfile

    context = tmp_path / "context"
    context.mkdir()
    copied = re.findall(r"^COPY\s+(?!--from)(\S+)\s", CONTAINERFILE, flags=re.MULTILINE)
    assert copied == ["pyproject.toml", "common/", "operator/", "worker/"]
    for name in copied:
        source = REPO / name.rstrip("/")
        if source.is_dir():
            import shutil

            shutil.copytree(source, context / source.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (context / source.name).write_bytes(source.read_bytes())
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            ".",
        ],
        cwd=context,
        check=True,
    )
    (wheel,) = tmp_path.glob("pot-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packed = set(archive.namelist())
        archive.extractall(tmp_path / "site")
        entry_points = next(n for n in packed if n.endswith("entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    for script in ("pot-operator", "pot-worker", "potctl"):
        assert f"{script} = " in scripts
    for top in ("common", "operator", "worker"):
        for path in (REPO / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                assert str(path.relative_to(REPO / top)) in packed, f"{path} is not in the image"
    probe = (
        "import pot_common, pot_operator.cli, pot_worker.cli, potctl.main\n"
        "from pot_common.db import query, schema_sql\n"
        "from pot_operator.db import sql\n"
        f"assert pot_common.__file__.startswith({str(tmp_path / 'site')!r}), pot_common.__file__\n"
        "schema_sql(); query('worker_claim'); sql('campaign_counts')\n"
    )
    subprocess.run([sys.executable, "-c", probe], env={"PYTHONPATH": str(tmp_path / "site")}, check=True)
