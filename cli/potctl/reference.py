"""docs/potctl-reference.md, generated from the potctl app itself: every command, argument, flag and exit
status. `make docs` (python -m potctl.reference --write) rewrites it; a unit test fails when it is stale.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "potctl-reference.md"

EXIT_STATUSES = (
    ("0", "done; for checks: nothing failed"),
    ("1", "the world said no: a check failed, a bad record, an object or secret missing or refused, "
     "a server unreachable"),
    ("2", "an input or setting will not do (usage, a bad value, missing configuration); nothing was changed"),
    ("130", "interrupted (Ctrl-C)"),
)  # fmt: skip


# typer carries its own copy of click, so commands and parameters are read by what they have.
def _commands(group: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    for name in group.commands:  # in registration order, as `potctl --help` lists them
        command = group.commands[name]
        if command.hidden:
            continue
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            yield from _commands(command, path)
        else:
            yield path, command


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _param_row(param: Any) -> str:
    if param.param_type_name == "argument":
        names = f"`{(param.name or '').upper()}`"
        help_text = getattr(param, "help", None) or ""
    else:
        names = ", ".join(f"`{o}`" for o in (*param.opts, *param.secondary_opts))
        help_text = param.help or ""
        if param.envvar and param.show_envvar:
            help_text += f" Env: `{param.envvar}`."
    default = param.default if not callable(param.default) else None
    shown = "" if default in (None, False, "", ()) or param.required else f"`{default}`"
    return f"| {names} | {'yes' if param.required else ''} | {shown} | {_cell(help_text)} |"


def render(app: typer.Typer) -> str:
    """The reference page for `app` (Markdown)."""
    root: Any = typer.main.get_command(app)
    lines = [
        "# potctl reference",
        "",
        "Generated from the CLI itself by `make docs` (`python -m potctl.reference --write`); do not edit.",
        "The overview and the how-to guides: [potctl.md](potctl.md), [howto/](howto/).",
        "",
        "## Exit statuses (every command)",
        "",
        "| status | meaning |",
        "|---|---|",
        *(f"| {code} | {meaning} |" for code, meaning in EXIT_STATUSES),
        "",
        "## Global options",
        "",
        "| option | required | default | what |",
        "|---|---|---|---|",
        *(_param_row(p) for p in root.params),
        "",
    ]
    for path, command in _commands(root, "potctl"):
        lines += [f"## `{path}`", ""]
        help_text = (command.help or "").strip()
        lines += [help_text.replace("\b\n", ""), ""] if help_text else []
        params = [p for p in command.params if p.name != "help"]
        if params:
            lines += ["| argument / option | required | default | what |", "|---|---|---|---|"]
            lines += [_param_row(p) for p in params]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    from potctl.main import app

    args = sys.argv[1:] if argv is None else argv
    text = render(app)
    if args == ["--write"]:
        REFERENCE.write_text(text, encoding="utf-8")
        print(f"wrote {REFERENCE}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
