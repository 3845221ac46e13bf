"""The Tools page's forms are potctl's flags (read from its typer app) and give potctl's argv back."""

from __future__ import annotations

from pathlib import Path

import pytest
from pot_console.pages import tool_fields
from pot_console.tools import BY_ID, FormError, build_argv


def fields_by_name(tool: str) -> dict[str, object]:
    return {f.name: f for f in tool_fields(tool)}


def test_fields_come_from_potctl() -> None:
    fields = fields_by_name("check-emails")
    assert fields["source"].kind == "file" and fields["source"].argument  # type: ignore[attr-defined]
    assert fields["mode"].kind == "select"  # type: ignore[attr-defined]
    assert set(fields["mode"].choices) == {"auto", "syntax", "format+mx", "smtp"}  # type: ignore[attr-defined]
    assert fields["test_domains"].kind == "tristate"  # type: ignore[attr-defined]
    assert fields["interval"].kind == "decimal"  # type: ignore[attr-defined]
    assert fields["concurrency"].kind == "number"  # type: ignore[attr-defined]
    # The console renders JSON itself and keeps files server-side: no --output or --state field.
    assert "output" not in fields and "state" not in fields
    assert fields_by_name("send-telegram")["silent"].kind == "checkbox"  # type: ignore[attr-defined]
    assert fields_by_name("preflight")["selector"].kind == "lines"  # type: ignore[attr-defined]
    # The database URL holds a password: never a form field.
    assert "database_url" not in fields_by_name("suppression-add")


def test_build_argv() -> None:
    spec = BY_ID["check-emails"]
    argv = build_argv(
        spec,
        tool_fields("check-emails"),
        {"mode": "syntax", "test_domains": "on", "interval": "0.5", "concurrency": ""},
        Path("/tmp/x.csv"),
    )
    assert argv == [
        "check-emails", "--output", "json", "--mode=syntax", "--interval=0.5", "--test-domains",
        "--", "/tmp/x.csv",
    ]  # fmt: skip
    add = build_argv(
        BY_ID["suppression-add"],
        tool_fields("suppression-add"),
        {"addresses": "a@x.test\n\n-b@x.test\n", "tenant": "acme", "reason": "complaint"},
    )
    # Arguments after `--`, so an address that starts with "-" is never taken for a flag.
    assert add == ["suppression", "add", "--tenant=acme", "--reason=complaint", "--", "a@x.test", "-b@x.test"]
    telegram = build_argv(
        BY_ID["send-telegram"],
        tool_fields("send-telegram"),
        {"text": "hi", "chat_id": "-100", "silent": "on"},
    )
    assert telegram == ["send-telegram", "--chat-id=-100", "--silent"]  # the text goes on stdin


@pytest.mark.parametrize(
    ("tool", "form", "error"),
    [
        ("check-emails", {"mode": "yolo"}, "--mode: choose one of"),
        ("check-emails", {"concurrency": "many"}, "--concurrency: a whole number"),
        ("check-emails", {"interval": "nan"}, "--interval: a finite number"),
        ("suppression-add", {"addresses": "a@x.test"}, "--tenant is required"),
        ("preflight", {"domain": "x.test\nrm -rf"}, "DOMAIN: one line of text"),
    ],
)
def test_bad_values_are_named(tool: str, form: dict[str, str], error: str) -> None:
    with pytest.raises(FormError, match=error):
        build_argv(BY_ID[tool], tool_fields(tool), form, Path("/tmp/x.csv"))
