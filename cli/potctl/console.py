"""potctl's consoles (results on stdout, errors and progress on stderr) and `fail`; for every command."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: message` on stderr and end the command with `code` (2: usage or configuration)."""
    # soft_wrap: one error is one line, whatever the terminal width, so it can be grepped.
    # escape: apiserver and chat API messages hold `[...]` that rich would take for markup and drop.
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
