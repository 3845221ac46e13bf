"""`potctl classify-message`: what saved inbox messages (.eml) say about earlier sends; potctl.main adds it.

It runs the ingester's own classifier (pot_feedback.classify) on files, so an operator can check how a
bounce, complaint or reply that arrived in a mailbox will be (or was) counted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pot_feedback.classify import MAX_BYTES, Verdict, classify
from rich.markup import escape
from rich.table import Table

from potctl import inputs
from potctl.console import checked, err, out, printable


def _read(file: str) -> bytes:
    """The head of the message the classifier reads (the same MAX_BYTES); `-` is stdin."""
    if file == "-":
        return sys.stdin.buffer.read(MAX_BYTES)
    with Path(file).open("rb") as data:
        return data.read(MAX_BYTES)


def classify_message_cmd(
    files: Annotated[
        list[str], typer.Argument(help="Messages as saved from a mailbox (RFC 5322, .eml); - for stdin.")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="table, or json (one JSON object per line, per file).")
    ] = "table",
) -> None:
    """Classify inbox messages: bounce, complaint, auto-reply, reply or unknown, as the ingester does.

    Reads RFC 3464 delivery status notifications, the prose bounces of qmail, Exim, Sendmail, Exchange,
    Gmail and Yahoo, ARF abuse reports (RFC 5965), automatic replies (RFC 3834 and the usual headers
    and subjects) and human replies, including a reply asking to unsubscribe. For each file: **kind**,
    the enhanced **status** (5.1.1) when the message gives one, **hard** (a permanent failure; a full
    mailbox is not), a one-word **reason** and the **recipient** it is about. JSON lines carry `file`
    (as given), `kind`, `status`, `hard`, `reason` and `recipient`. Only the first 256 KiB of a file
    are read. A file that cannot be read is one line on stderr and the others go on; the exit status
    is then 2, else 0.

    Example: `potctl classify-message inbox/*.eml --output json`
    """
    checked(lambda: inputs.choice(output, ("table", "json"), "--output"))
    failed = 0
    rows: list[tuple[str, Verdict]] = []
    for file in files:
        try:
            raw = _read(file)
        except OSError as exc:
            failed += 1
            reason = exc.strerror or exc.__class__.__name__
            err.print(
                f"[red]error:[/red] cannot read {escape(inputs.shown(file, 1000))}: {escape(reason)}",
                highlight=False,
                soft_wrap=True,
            )
            continue
        verdict = classify(raw)
        if output == "json":
            print(json.dumps(verdict.to_json(file)), flush=True)
        else:
            rows.append((file, verdict))
    if output == "table" and rows:
        out.print(_table(rows))
    if failed:
        raise typer.Exit(2)


def _table(rows: list[tuple[str, Verdict]]) -> Table:
    table = Table(box=None, pad_edge=False)
    # A narrow terminal folds a long path or address onto more lines rather than cutting it.
    for name in ("file", "kind", "status", "hard", "reason", "recipient"):
        table.add_column(name, overflow="fold")
    for file, verdict in rows:
        table.add_row(
            escape(printable(file)),
            verdict.kind,
            verdict.status or "-",
            "yes" if verdict.hard else "no",
            verdict.reason,
            escape(printable(verdict.recipient or "-")),
        )
    return table


def register(app: typer.Typer) -> None:
    app.command("classify-message")(classify_message_cmd)
