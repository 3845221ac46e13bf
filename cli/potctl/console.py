"""potctl's consoles (results on stdout, errors and progress on stderr), `fail`, `checked` and `printable`;
for every command."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from potctl.inputs import BadInput

T = TypeVar("T")

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: message` on stderr and end the command with `code` (2: usage or configuration)."""
    # soft_wrap: one error is one line, whatever the terminal width, so it can be grepped.
    # escape: apiserver and chat API messages hold `[...]` that rich would take for markup and drop.
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def checked(check: Callable[[], T]) -> T:
    """`check()`'s value (a potctl.inputs check), or its one-line error and exit status 2."""
    try:
        return check()
    except BadInput as exc:
        fail(str(exc), 2)


def printable(text: str) -> str:
    """A line for the terminal: what a hostile DNS record or file holds must not move the cursor."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
