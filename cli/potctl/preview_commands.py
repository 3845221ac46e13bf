"""`potctl preview`: one recipient's message exactly as the worker would send it; registered by potctl.main.

It reads what the worker reads (the campaign row's template columns, the recipient's send job, a
mailbox of the pool) and renders with the worker's code, pot_common.message, so the preview
is the message: the same template engine, fallbacks, spintax choice, sender variables and headers.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Annotated, Any

import asyncpg
import typer
from pot_common.message import (
    InvalidRecipient,
    Sender,
    message_id,
    render_message,
    template_from_row,
)
from pot_common.templates import TemplateError

from potctl import inputs
from potctl.console import checked, fail, out
from potctl.database import DatabaseOpt, run_db

_CAMPAIGN = """
SELECT c.id, c.pool_id, c.namespace, c.name, c.tenant, c.subject_template, c.text_template, c.html_template,
       c.template_variables::text AS template_variables, c.unsubscribe_url, c.unsubscribe_mailto,
       c.unsubscribe_one_click
FROM campaigns c WHERE c.namespace = $1 AND c.name = $2
"""
# The recipient: the one asked for, else the next the workers would claim (queue order).
_JOB = """
SELECT id, recipient, variables::text AS variables, attempts FROM send_jobs
WHERE campaign_id = $1 AND ($2::text IS NULL OR lower(recipient) = lower($2))
ORDER BY (state IN ('queued', 'deferred')) DESC, next_attempt_at, id LIMIT 1
"""
_MAILBOX = """
SELECT name, address, display_name FROM mailboxes
WHERE pool_id = $1 AND ($2::text IS NULL OR name = $2) ORDER BY id LIMIT 1
"""


async def _load(
    conn: asyncpg.Connection, namespace: str, name: str, recipient: str | None, mailbox: str | None
) -> tuple[dict[str, Any], asyncpg.Record, asyncpg.Record]:
    campaign = await conn.fetchrow(_CAMPAIGN, namespace, name)
    if campaign is None:
        fail(f"no campaign {namespace}/{name} in the database (the operator projects it once reconciled)")
    job = await conn.fetchrow(_JOB, campaign["id"], recipient)
    if job is None:
        fail(f"campaign {namespace}/{name} has no send job" + (f" for {recipient}" if recipient else ""))
    sender = await conn.fetchrow(_MAILBOX, campaign["pool_id"], mailbox)
    if sender is None:
        fail(f"the campaign's pool has no mailbox{f' named {mailbox}' if mailbox else ''}")
    return dict(campaign), job, sender


def preview_cmd(
    campaign: Annotated[str, typer.Argument(help="The Campaign's name.")],
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="The Campaign's namespace.")
    ] = "default",
    recipient: Annotated[
        str | None,
        typer.Option("--recipient", help="Whose message (default: the next one the workers send)."),
    ] = None,
    mailbox: Annotated[
        str | None, typer.Option("--mailbox", help="Send as this Mailbox of the pool (default: the first).")
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="The bytes on the wire (MIME, encoded) instead.")
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Render one recipient's message as the worker would send it (reads Postgres, sends nothing).

    Exit status 1 when it cannot be rendered (a value the template needs is missing, or the address
    is unusable): the worker would fail that job the same way.
    """
    namespace = checked(lambda: inputs.name(namespace, "--namespace"))
    name = checked(lambda: inputs.name(campaign, "CAMPAIGN"))
    row, job, box = run_db(database_url, lambda conn: _load(conn, namespace, name, recipient, mailbox))
    template = template_from_row(row)
    sender = Sender(box["address"], box["display_name"])
    msg_id = message_id(row["id"], job["id"], job["attempts"] + 1, box["address"])
    try:
        data = render_message(
            template, sender, job["recipient"], json.loads(job["variables"]), msg_id, datetime.now(UTC)
        )
    except (TemplateError, InvalidRecipient) as exc:
        fail(f"{job['recipient']}: {exc}")
    if raw:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)  # the exact bytes, CRLF line ends included
        sys.stdout.buffer.flush()
        return
    print_readable(data)


def print_readable(data: bytes) -> None:
    """Headers decoded, then each text part as the recipient reads it."""
    msg = message_from_bytes(data, policy=policy.default)
    for header in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ):
        if msg[header] is not None:
            out.print(f"{header}: {msg[header]}", markup=False, highlight=False, soft_wrap=True)
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            out.print(f"\n--- {part.get_content_type()} ---", markup=False, highlight=False)
            body = part.get_content().replace("\r\n", "\n")
            out.print(body.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("preview")(preview_cmd)
