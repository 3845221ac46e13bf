"""The Tools page's catalogue: each potctl command's flags as form fields, and a filled form as argv.

The fields are read from potctl's own typer app, so a flag potctl adds or renames shows up here
without a second list to keep in step; a tool then runs as `potctl <command> <argv>` (pot_console.jobs).
`form_fields` and `build_argv` are pure (given a command), called by the Tools view and its tests.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_TEXT = 4096
MAX_LINES = 10_000
# Never offered: server-side files, the kubeconfig and the database URL (it holds a password); potctl
# takes them from the console's own environment instead.
HIDDEN_EVERYWHERE = frozenset({"database_url", "kubeconfig", "context", "file", "state"})


class FormError(ValueError):
    """A field a person filled in that potctl would refuse; str() names the field and why."""


@dataclass(frozen=True)
class ToolSpec:
    """One tool on the page: which potctl command, and what the console decides for the person."""

    id: str  # the URL slug
    command: tuple[str, ...]  # potctl's words, e.g. ("suppression", "add"); () for a console-side tool
    title: str
    summary: str
    fixed: tuple[str, ...] = ()  # arguments always passed (e.g. --output json, which the page renders)
    hidden: frozenset[str] = frozenset()
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # free-text flags with known values
    upload: str = ""  # the parameter an uploaded file's path fills
    stdin: str = ""  # the parameter whose text goes to potctl on stdin
    results: bool = False  # stdout lines are JSON results: shown as a table, downloadable


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "check-emails",
        ("check-emails",),
        "Check email addresses",
        "Syntax, MX, an SMTP RCPT probe (never DATA) and catch-all detection for an uploaded list.",
        fixed=("--output", "json"),
        # The in-cluster run creates a Job that receives the workers' database Secret: not offered
        # here until the console checks per-namespace access for it (potctl's --in-cluster does).
        hidden=frozenset(
            {
                "output",
                "in_cluster",
                "namespace",
                "max_age",
                "image",
                "database_secret",
                "node_selector",
                "timeout",
            }
        ),
        upload="source",
        results=True,
    ),
    ToolSpec(
        "preflight",
        ("preflight",),
        "Preflight a sending domain",
        "MX, SPF, DKIM, DMARC and blocklists of a domain, before a campaign.",
        choices={"output": ("table", "json")},
    ),
    ToolSpec("spf-check", ("spf-check",), "SPF check", "RFC 7208 check_host for one connection."),
    ToolSpec(
        "blocklist-check",
        (),
        "Blocklist check",
        "Query DNS blocklists (each self-tested first, RFC 5782) for IP addresses and domains.",
    ),
    ToolSpec(
        "suppression-add",
        ("suppression", "add"),
        "Suppress addresses",
        "Addresses never to send to again, for one tenant.",
    ),
    ToolSpec(
        "suppression-remove",
        ("suppression", "remove"),
        "Lift suppressions",
        "Remove addresses from a tenant's suppression list.",
    ),
    ToolSpec(
        "suppression-list", ("suppression", "list"), "List suppressions", "A tenant's suppressed addresses."
    ),
    ToolSpec(
        "suppression-export",
        ("suppression", "export"),
        "Export suppressions",
        "A tenant's suppressions as CSV (download the output).",
        hidden=frozenset({"output"}),
    ),
    ToolSpec(
        "send-telegram",
        ("send-telegram",),
        "Telegram message",
        "Write a message, see it as Telegram shows it, send it through the Bot API.",
        choices={"parse_mode": ("", "MarkdownV2", "HTML", "Markdown")},
        stdin="text",
    ),
    ToolSpec(
        "send-slack", ("send-slack",), "Slack message", "Post to a Slack incoming webhook.", stdin="text"
    ),
)
BY_ID = {tool.id: tool for tool in TOOLS}


@dataclass(frozen=True)
class Field:
    """One form control for one potctl parameter."""

    name: str
    label: str  # the flag as potctl spells it (--mode), or the argument's name in capitals
    help: str
    kind: str  # checkbox, tristate, select, number, decimal, text, lines, file, textarea
    flag: str = ""  # the option's flag; "" for an argument
    off_flag: str = ""  # a --x/--no-x option's second flag
    choices: tuple[str, ...] = ()
    default: str = ""
    required: bool = False
    argument: bool = False
    envvar: str = ""


def _annotation(param: Any) -> Any:
    descriptor = getattr(param, "type_descriptor", None)
    return getattr(descriptor, "annotation", str)


def _default_text(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    return str(value)


def field_of(param: Any, spec: ToolSpec) -> Field:
    """The control for one typer parameter of `spec`'s command."""
    annotation = _annotation(param)
    argument = not param.opts[0].startswith("-")
    many = bool(param.multiple) or param.nargs == -1
    flag = "" if argument else max(param.opts, key=len)
    label = param.name.upper() if argument else flag
    common = {
        "name": param.name,
        "label": label,
        "help": " ".join((param.help or "").split()),
        "flag": flag,
        "default": _default_text(param.default),
        "required": bool(param.required),
        "argument": argument,
        "envvar": param.envvar if isinstance(param.envvar, str) else "",
    }
    if param.name == spec.upload:
        return Field(**common, kind="file")
    if param.name == spec.stdin:
        return Field(**common, kind="textarea")
    if param.name in spec.choices:
        return Field(**common, kind="select", choices=spec.choices[param.name])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return Field(**common, kind="select", choices=tuple(str(e.value) for e in annotation))
    if annotation is bool:
        if param.secondary_opts:
            return Field(**common, kind="tristate", off_flag=param.secondary_opts[0])
        return Field(**common, kind="checkbox")
    if many:
        return Field(**common, kind="lines")
    if annotation is int:
        return Field(**common, kind="number")
    if annotation is float:
        return Field(**common, kind="decimal")
    return Field(**common, kind="text")


def potctl_command(words: Sequence[str]) -> Any:
    """potctl's command for `words` (e.g. suppression add), from its typer app."""
    import typer.main
    from potctl.main import app  # here, not at import: potctl.main mounts the console command

    command: Any = typer.main.get_command(app)
    for word in words:
        command = command.commands[word]
    return command


def form_fields(spec: ToolSpec, command: Any) -> list[Field]:
    """Every parameter of the command a person may set, in potctl's order, arguments first."""
    fields = [
        field_of(p, spec)
        for p in command.params
        if p.name not in HIDDEN_EVERYWHERE and p.name not in spec.hidden and not getattr(p, "hidden", False)
    ]
    return sorted(fields, key=lambda f: not f.argument)


def _text(value: str, label: str) -> str:
    if len(value) > MAX_TEXT:
        raise FormError(f"{label}: at most {MAX_TEXT} characters")
    if any(ord(c) < 32 and c not in "\t" for c in value):
        raise FormError(f"{label}: one line of text, without control characters")
    return value


def _lines(value: str, label: str) -> list[str]:
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    if len(lines) > MAX_LINES:
        raise FormError(f"{label}: at most {MAX_LINES} lines")
    return [_text(line, label) for line in lines]


def _value(f: Field, raw: str) -> list[str]:
    """The argv words one filled-in field gives (possibly none)."""
    raw = raw if f.kind == "textarea" else raw.strip()
    if f.kind == "checkbox":
        return [f.flag] if raw in ("on", "true", "1") else []
    if f.kind == "tristate":
        return {"on": [f.flag], "off": [f.off_flag]}.get(raw, [])
    if raw == "":
        if f.required:
            raise FormError(f"{f.label} is required")
        return []
    if f.kind == "select" and raw not in f.choices:
        raise FormError(f"{f.label}: choose one of {', '.join(c for c in f.choices if c)}")
    if f.kind == "number":
        try:
            int(raw)
        except ValueError:
            raise FormError(f"{f.label}: a whole number") from None
    if f.kind == "decimal":
        try:
            number = float(raw)
        except ValueError:
            raise FormError(f"{f.label}: a number") from None
        if not math.isfinite(number):
            raise FormError(f"{f.label}: a finite number")
    values = (
        _lines(raw, f.label) if f.kind == "lines" else [raw if f.kind == "textarea" else _text(raw, f.label)]
    )
    if f.argument:
        return values
    return [f"{f.flag}={v}" for v in values]


def build_argv(
    spec: ToolSpec, fields: Sequence[Field], form: Mapping[str, str], upload: Path | None = None
) -> list[str]:
    """potctl's argv for a filled form: options as --flag=value, then `--` and the arguments.

    The stdin field is left out (the job writes it to potctl's stdin); the upload field takes the
    saved file's path. Raises FormError for a value potctl would refuse before it runs.
    """
    options: list[str] = []
    arguments: list[str] = []
    for f in fields:
        if f.name == spec.stdin:
            continue
        if f.kind == "file":
            if upload is None:
                if f.required:
                    raise FormError(f"{f.label}: choose a file")
                continue
            arguments.append(str(upload))
            continue
        words = _value(f, form.get(f.name, ""))
        (arguments if f.argument else options).extend(words)
    return [*spec.command, *spec.fixed, *options, *(["--", *arguments] if arguments else [])]
