"""docs/potctl-reference.md is what `make docs` generates from the CLI now: a changed command, flag or
help text without `make docs` fails here."""

from __future__ import annotations

from potctl import reference
from potctl.main import app


def test_the_reference_is_current() -> None:
    stored = reference.REFERENCE.read_text(encoding="utf-8")
    assert stored == reference.render(app), "docs/potctl-reference.md is stale: run `make docs`"


def test_every_command_and_flag_is_in_it() -> None:
    text = reference.render(app)
    for heading in ("## `potctl mailboxes import`", "## `potctl mailboxes rotate`", "## `potctl status`"):
        assert heading in text
    assert "| `--password-env` |" in text and "| `--output-dir` |" in text
    assert "| 130 | interrupted" in text
