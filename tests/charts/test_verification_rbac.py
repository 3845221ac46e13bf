"""The operator's rights for spec.verification's checker Jobs, as the chart renders them (issue 15)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # conftest is pytest's, not importable at run time under --import-mode=importlib
    from conftest import Tools

CHART = Path(__file__).resolve().parents[2] / "charts" / "pot"


def rules_on_jobs(tools: Tools, *args: str) -> list[tuple[str, list[str]]]:
    out = tools.run(tools.helm, "template", "pot", str(CHART), "-n", "pot-system", *args).stdout
    docs: list[dict[str, Any]] = [d for d in yaml.safe_load_all(out) if d]
    return [
        (d["kind"], rule["verbs"])
        for d in docs
        if d["kind"] in ("Role", "ClusterRole")
        for rule in d.get("rules") or []
        if "jobs" in rule.get("resources", [])
    ]


def test_checker_jobs_are_created_and_read_by_name_never_listed_patched_or_deleted(tools: Tools) -> None:
    assert rules_on_jobs(tools) == [("Role", ["get", "create"])]
    cluster_wide = rules_on_jobs(tools, "-f", str(CHART / "ci" / "cluster-wide-values.yaml"))
    assert cluster_wide == [("ClusterRole", ["get", "create"])]
