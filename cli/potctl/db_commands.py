"""potctl's Postgres-backed commands: suppression, feedback and import-recipients; registered by potctl.main.

The tables (suppressions, delivery_events, recipients, campaigns) belong to pot_common.db; the SQL
here only reads and writes rows in them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import asyncpg
import typer
from pot_common.addresses import check_syntax
from pot_deliverability import emailcheck
from rich.table import Table

from potctl.console import err, fail, out

T = TypeVar("T")

DatabaseOpt = Annotated[
    str | None, typer.Option("--database-url", help="postgresql://… Default: POT_DATABASE_URL.")
]
TenantOpt = Annotated[
    str, typer.Option("--tenant", help="The client the addresses belong to (suppression is per tenant).")
]


class Reason(StrEnum):
    MANUAL = "manual"
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"


class Feedback(StrEnum):
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    REPLY = "reply"


# What each kind of feedback does: the delivery_events outcome health reads, and the suppression reason.
FEEDBACK_EFFECT: dict[Feedback, tuple[str, str | None]] = {
    Feedback.BOUNCE: ("bounced", "hard_bounce"),
    Feedback.COMPLAINT: ("complaint", "complaint"),
    Feedback.UNSUBSCRIBE: ("unsubscribed", "unsubscribe"),
    Feedback.REPLY: ("replied", None),
}


def _run(database_url: str | None, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    url = database_url or os.environ.get("POT_DATABASE_URL")
    if not url:
        fail("no database: set POT_DATABASE_URL or give --database-url", 2)

    async def go() -> T:
        try:
            conn = await asyncpg.connect(url)
        except (OSError, asyncpg.PostgresError) as exc:
            fail(f"cannot connect to Postgres: {exc.__class__.__name__}")
        try:
            return await work(conn)
        except asyncpg.UndefinedTableError as exc:
            fail(f"the POT schema is missing ({exc}); the operator creates it on start")
        finally:
            await conn.close()

    return asyncio.run(go())


suppression = typer.Typer(
    help="Addresses never to send to again, per tenant. The workers skip suppressed recipients.",
    no_args_is_help=True,
)


@suppression.command("add")
def suppression_add(
    addresses: Annotated[list[str], typer.Argument(help="One or more addresses.")],
    tenant: TenantOpt,
    reason: Annotated[Reason, typer.Option("--reason", help="Why it is suppressed.")] = Reason.MANUAL,
    source: Annotated[str, typer.Option("--source", help="Free text: who or what asked for it.")] = "potctl",
    database_url: DatabaseOpt = None,
) -> None:
    """Suppress addresses for a tenant (stored lower-case; adding one twice keeps the first reason)."""

    async def work(conn: asyncpg.Connection) -> int:
        result = await conn.executemany(
            "INSERT INTO suppressions (tenant, address, reason, source) VALUES ($1, lower($2), $3, $4) "
            "ON CONFLICT (tenant, address) DO NOTHING",
            [(tenant, a.strip(), reason.value, source) for a in addresses],
        )
        del result
        return len(addresses)

    count = _run(database_url, work)
    err.print(f"suppressed {count} address(es) for {tenant}", highlight=False)


@suppression.command("remove")
def suppression_remove(
    addresses: Annotated[list[str], typer.Argument(help="One or more addresses.")],
    tenant: TenantOpt,
    database_url: DatabaseOpt = None,
) -> None:
    """Lift the suppression of addresses for a tenant (exit 1 if none of them was suppressed)."""

    async def work(conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "DELETE FROM suppressions WHERE tenant = $1 AND address = ANY($2::text[]) RETURNING address",
            tenant,
            [a.strip().lower() for a in addresses],
        )
        return len(rows)

    count = _run(database_url, work)
    err.print(f"removed {count} suppression(s) for {tenant}", highlight=False)
    raise typer.Exit(0 if count else 1)


async def _list(conn: asyncpg.Connection, tenant: str, reason: Reason | None) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT address, reason, source, created_at FROM suppressions WHERE tenant = $1 "
            "AND ($2::text IS NULL OR reason = $2) ORDER BY address",
            tenant,
            reason.value if reason else None,
        )
    )


@suppression.command("list")
def suppression_list(
    tenant: TenantOpt,
    reason: Annotated[Reason | None, typer.Option("--reason", help="Only this reason.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Show a tenant's suppressed addresses as a table."""
    rows = _run(database_url, lambda conn: _list(conn, tenant, reason))
    table = Table(title=f"Suppressed for {tenant}")
    for column in ("address", "reason", "source", "since"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["address"], row["reason"], row["source"], row["created_at"].isoformat(timespec="seconds")
        )
    out.print(table)


@suppression.command("export")
def suppression_export(
    tenant: TenantOpt,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the CSV here instead of stdout.")
    ] = None,
    reason: Annotated[Reason | None, typer.Option("--reason", help="Only this reason.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Export a tenant's suppressions as CSV (address,reason,source,created_at)."""
    rows = _run(database_url, lambda conn: _list(conn, tenant, reason))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["address", "reason", "source", "created_at"])
    for row in rows:
        writer.writerow([row["address"], row["reason"], row["source"], row["created_at"].isoformat()])
    if output:
        output.write_text(buffer.getvalue())
    else:
        sys.stdout.write(buffer.getvalue())


def feedback_cmd(
    kind: Annotated[Feedback | None, typer.Argument(help="bounce, complaint, unsubscribe or reply.")] = None,
    address: Annotated[str | None, typer.Argument(help="The address it concerns.")] = None,
    tenant: TenantOpt = "",
    csv_file: Annotated[
        Path | None,
        typer.Option("--csv", help="Many at once: a CSV with columns address,kind (header required)."),
    ] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="namespace/name of the campaign it came from, if known.")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Record delivery feedback that arrived outside SMTP, so pool health and suppression see it.

    A bounce, complaint or unsubscribe writes a delivery event and suppresses the address for the
    tenant; a reply writes an event only. One address (`potctl feedback complaint bob@x.test --tenant
    acme`) or a CSV (`--csv feedback.csv`); bad CSV rows are reported with their line number and the
    others are recorded.
    """
    if not tenant:
        fail("--tenant is required", 2)
    items: list[tuple[int, Feedback, str]] = []
    if csv_file is not None:
        try:
            reader = csv.DictReader(io.StringIO(csv_file.read_text()))
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {csv_file}: {exc}", 2)
        for number, row in enumerate(reader, start=2):
            try:
                items.append((number, Feedback(row.get("kind", "").strip().lower()), row["address"].strip()))
            except (ValueError, KeyError, AttributeError):
                err.print(
                    f"line {number}: need address and kind (bounce, complaint, unsubscribe, reply)",
                    highlight=False,
                )
    elif kind is not None and address:
        items.append((0, kind, address))
    else:
        fail("give KIND ADDRESS, or --csv FILE", 2)

    async def work(conn: asyncpg.Connection) -> int:
        campaign_id = None
        if campaign:
            namespace, _, name = campaign.partition("/")
            campaign_id = await conn.fetchval(
                "SELECT id FROM campaigns WHERE namespace = $1 AND name = $2", namespace, name
            )
            if campaign_id is None:
                fail(f"no campaign {campaign} in the database")
        async with conn.transaction():
            for _, what, recipient in items:
                outcome, reason = FEEDBACK_EFFECT[what]
                await conn.execute(
                    "INSERT INTO delivery_events (campaign_id, recipient, outcome, reply) "
                    "VALUES ($1, lower($2), $3, $4)",
                    campaign_id,
                    recipient,
                    outcome,
                    "recorded by potctl feedback",
                )
                if reason:
                    await conn.execute(
                        "INSERT INTO suppressions (tenant, address, reason, source) "
                        "VALUES ($1, lower($2), $3, $4) ON CONFLICT (tenant, address) DO NOTHING",
                        tenant,
                        recipient,
                        reason,
                        f"feedback:{what.value}",
                    )
        return len(items)

    count = _run(database_url, work)
    err.print(f"recorded {count} feedback item(s) for {tenant}", highlight=False)


def import_recipients_cmd(
    source: Annotated[
        Path, typer.Argument(help="CSV with an email column; other columns become template variables.")
    ],
    tenant: TenantOpt,
    list_name: Annotated[
        str, typer.Option("--list", help="Name of the recipient list (a Campaign's recipient source).")
    ],
    report: Annotated[
        str, typer.Option("--report", help="table or json: how to print the validation report.")
    ] = "table",
    database_url: DatabaseOpt = None,
) -> None:
    """Import recipients from CSV into Postgres, with a validation report.

    Each row's address is checked offline (syntax and RFC 5321 lengths). Rows that are unreadable, have
    no or an invalid address, repeat an earlier address, or are suppressed for the tenant are left out
    and reported with their line number; the rest are inserted (an address already on the list is kept
    as it was). Exit status 1 when any row was left out.
    """
    try:
        text = source.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {source}: {exc}", 2)
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    lower = [h.lower() for h in header]
    column = next((lower.index(n) for n in emailcheck.ADDRESS_COLUMNS if n in lower), None)
    if column is None:
        fail(f"{source}: no email column in the header ({', '.join(header)})", 2)
    problems: list[dict[str, Any]] = []
    good: dict[str, tuple[int, dict[str, str]]] = {}
    allow_test = bool(os.environ.get("POT_DNS_RESOLVER"))
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(
                {"line": number, "problem": f"{len(cells)} columns where the header has {len(header)}"}
            )
            continue
        syntax = check_syntax(cells[column], allow_test_domains=allow_test)
        if not syntax.ok:
            problems.append({"line": number, "address": cells[column], "problem": syntax.reason})
            continue
        key = syntax.normalized.lower()
        if key in good:
            problems.append(
                {"line": number, "address": cells[column], "problem": f"duplicate of line {good[key][0]}"}
            )
            continue
        variables = {h: c for i, (h, c) in enumerate(zip(header, cells, strict=True)) if i != column}
        good[key] = (number, variables)

    async def work(conn: asyncpg.Connection) -> int:
        suppressed = {
            r["address"]
            for r in await conn.fetch(
                "SELECT address FROM suppressions WHERE tenant = $1 AND address = ANY($2::text[])",
                tenant,
                list(good),
            )
        }
        for address in sorted(suppressed):
            problems.append(
                {"line": good[address][0], "address": address, "problem": "suppressed for this tenant"}
            )
        rows = [(tenant, list_name, a, json.dumps(v)) for a, (_, v) in good.items() if a not in suppressed]
        await conn.executemany(
            "INSERT INTO recipients (tenant, list_name, address, variables) VALUES ($1, $2, $3, $4::jsonb) "
            "ON CONFLICT (tenant, list_name, address) DO NOTHING",
            rows,
        )
        return len(rows)

    imported = _run(database_url, work)
    problems.sort(key=lambda p: int(p["line"]))
    if report == "json":
        print(json.dumps({"imported": imported, "rejected": problems}))
    else:
        out.print(f"imported {imported} recipient(s) into {tenant}/{list_name}")
        if problems:
            table = Table(title=f"{len(problems)} row(s) left out")
            for c in ("line", "address", "problem"):
                table.add_column(c)
            for p in problems:
                table.add_row(str(p["line"]), p.get("address", ""), p["problem"])
            out.print(table)
    raise typer.Exit(1 if problems else 0)


def register(app: typer.Typer) -> None:
    app.add_typer(suppression, name="suppression")
    app.command("feedback")(feedback_cmd)
    app.command("import-recipients")(import_recipients_cmd)
