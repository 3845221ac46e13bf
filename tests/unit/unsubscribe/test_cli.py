"""`pot-unsubscribe` refuses a bad setting with one line naming the variable, exit 2, no traceback."""

from __future__ import annotations

import pytest
from pot_unsubscribe.cli import main


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "POT_DATABASE_URL"),
        ({"POT_DATABASE_URL": "postgresql://x", "POT_IP_BURST": "zero"}, "POT_IP_BURST"),
        (
            {"POT_DATABASE_URL": "postgresql://x", "POT_TRUSTED_PROXIES": "10.0.0.0/8,everyone"},
            "POT_TRUSTED_PROXIES",
        ),
        ({"POT_DATABASE_URL": "postgresql://x", "POT_LISTEN_PORT": "70000"}, "POT_LISTEN_PORT"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], variable: str
) -> None:
    monkeypatch.delenv("POT_DATABASE_URL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pot-unsubscribe: {variable}:") and err.count("\n") == 1 and "Traceback" not in err
