"""`potctl classify-message` (potctl.classify_commands) on corpus files: JSON lines in the issue's shape,
the table, an unreadable file reported on stderr while the others go on, and exit status 2 then."""

from __future__ import annotations

import json
from pathlib import Path

from potctl.main import app
from typer.testing import CliRunner

CORPUS = Path(__file__).parent / "corpus"
BOUNCE = str(CORPUS / "postfix" / "user-unknown.eml")
REPLY = str(CORPUS / "reply" / "remove-me.eml")


def test_json_is_one_object_per_file_in_the_order_given() -> None:
    result = CliRunner().invoke(app, ["classify-message", BOUNCE, REPLY, "--output", "json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [
        {
            "file": BOUNCE,
            "kind": "bounce",
            "status": "5.1.1",
            "hard": True,
            "reason": "no-such-user",
            "recipient": "jordan.miles@brightpath.example",
        },
        {
            "file": REPLY,
            "kind": "reply",
            "status": None,
            "hard": False,
            "reason": "unsubscribe-request",
            "recipient": "carla.diaz@sunbelt-hvac.example",
        },
    ]


def test_an_unreadable_file_is_one_stderr_line_the_others_go_on_and_the_status_is_2(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.eml")
    result = CliRunner().invoke(app, ["classify-message", missing, BOUNCE, str(tmp_path), "-o", "json"])
    assert result.exit_code == 2
    assert [json.loads(line)["file"] for line in result.stdout.splitlines()] == [BOUNCE]
    errors = result.stderr.splitlines()
    assert len(errors) == 2 and "missing.eml" in errors[0] and str(tmp_path) in errors[1]
    assert "Traceback" not in result.output


def test_the_table_names_each_file_and_its_verdict() -> None:
    result = CliRunner().invoke(app, ["classify-message", BOUNCE], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    header, row = result.stdout.splitlines()[:2]
    assert header.split() == ["file", "kind", "status", "hard", "reason", "recipient"]
    recipient = "jordan.miles@brightpath.example"
    assert row.split() == [BOUNCE, "bounce", "5.1.1", "yes", "no-such-user", recipient]


def test_stdin_is_read_for_a_dash() -> None:
    raw = (CORPUS / "arf" / "yahoo-abuse.eml").read_bytes()
    result = CliRunner().invoke(app, ["classify-message", "-", "-o", "json"], input=raw)
    assert json.loads(result.stdout)["kind"] == "complaint"


def test_a_wrong_output_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["classify-message", BOUNCE, "-o", "xml"])
    assert result.exit_code == 2
    assert "--output" in result.stderr
