"""Fixtures for the onboarding e2e tests: CRDs, OpenBao, and the operator from tests/e2e/operator."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]


def _load_operator_fixtures() -> Any:
    """tests/e2e/operator/conftest.py, loaded by path: conftests are not importable modules under
    --import-mode=importlib (as tests/e2e/tenancy does)."""
    path = REPO / "tests" / "e2e" / "operator" / "conftest.py"
    spec = importlib.util.spec_from_file_location("pot_e2e_operator_conftest_onboarding", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_operator_fixtures = _load_operator_fixtures()
crds_installed = _operator_fixtures.crds_installed
fake_chat = _operator_fixtures.fake_chat
operator_env = _operator_fixtures.operator_env
operator = _operator_fixtures.operator
