"""pot-ingester's settings: the worker's variables, validated, a bad one refused in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pot_ingester.config import settings_from_env
from pydantic import ValidationError


def test_pool_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POT_POOL", "acme/outreach")
    monkeypatch.setenv("POT_DATABASE_URL", "postgresql://x@127.0.0.1/db")
    monkeypatch.setenv("POT_VAULT_TOKEN", "s.canary-token-value")
    settings = settings_from_env()
    assert (settings.pool_namespace, settings.pool_name) == ("acme", "outreach")
    assert settings.idle_renew_seconds < 29 * 60
    assert "canary-token-value" not in repr(settings)


def test_a_pool_without_namespace_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POT_DATABASE_URL", "postgresql://x@127.0.0.1/db")
    with pytest.raises(ValidationError, match="namespace/name"):
        settings_from_env(pool="outreach")


def test_the_cli_says_one_line_and_exits_2_on_bad_settings() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pot_ingester.cli", "--pool", "nonamespace"],
        env={"POT_DATABASE_URL": "postgresql://x@127.0.0.1/db", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert "POT_POOL" in proc.stderr
