"""potctl import-recipients: a CSV into the recipients table, with a validation report; registered by main.

Rows stream through a temporary table in Postgres (COPY in batches), where duplicates and suppressed
addresses are found and the report is read back in line order, so a file of any size takes the same
memory in potctl.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import typer
from pot_common.addresses import check_syntax
from pot_deliverability import emailcheck
from rich.markup import escape
from rich.table import Table

from potctl import inputs
from potctl.console import checked, fail, out
from potctl.database import BATCH, DatabaseOpt, TenantOpt, csv_records, open_input, run_db

TABLE_ROWS = 1000  # rows of a report table printed at once


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

    Each row's address is checked offline (syntax and RFC 5321 lengths). Rows that are unreadable (not
    UTF-8, over 64 KiB, the wrong number of columns), have no or an invalid address, repeat an earlier
    address, or are suppressed for the tenant are left out and reported with their line number; the rest
    are inserted (an address already on the list is kept as it was). Rows stream through Postgres, so
    a file of any size takes the same memory. Exit status 1 when any row was left out.
    """
    checked(lambda: inputs.choice(report, ("table", "json"), "--report"))
    tenant = checked(lambda: inputs.name(tenant, "--tenant"))
    list_name = checked(lambda: inputs.name(list_name, "--list"))
    stream = open_input(source, "SOURCE")
    header, records = csv_records(stream, inputs.shown(str(source)))
    lower = [h.lower() for h in header]
    column = next((lower.index(n) for n in emailcheck.ADDRESS_COLUMNS if n in lower), None)
    if column is None:
        stream.close()
        shown_header = inputs.shown(", ".join(header), 120)
        fail(f"{inputs.shown(str(source))}: no email column in the header ({shown_header})", 2)
    rows = _recipient_rows(records, header, column, allow_test=bool(os.environ.get("POT_DNS_RESOLVER")))

    async def work(conn: asyncpg.Connection) -> int:
        async with conn.transaction():
            imported = await _import(conn, tenant, list_name, rows)
            problems = conn.cursor(
                "SELECT line, address, problem FROM import_rows WHERE problem IS NOT NULL ORDER BY line"
            )
            left_out = await _report(report, imported, tenant, list_name, problems)
        return left_out

    try:
        left_out = run_db(database_url, work)
    finally:
        stream.close()
    raise typer.Exit(1 if left_out else 0)


ImportRow = tuple[int, str | None, str | None, str | None, str]  # line, address, key, problem, variables


def _recipient_rows(
    records: Iterator[tuple[int, list[str]] | emailcheck.BadRow],
    header: list[str],
    column: int,
    *,
    allow_test: bool,
) -> Iterator[ImportRow]:
    """Each row checked offline: its normalised address (the key) or the problem that leaves it out."""
    for record in records:
        if isinstance(record, emailcheck.BadRow):
            yield record.line, None, None, record.why, "{}"
            continue
        number, cells = record
        if len(cells) != len(header):
            yield number, None, None, f"{len(cells)} columns where the header has {len(header)}", "{}"
            continue
        if any("\x00" in cell for cell in cells):
            yield number, None, None, "a cell holds a NUL character, which no Postgres text can", "{}"
            continue
        syntax = check_syntax(cells[column], allow_test_domains=allow_test)
        if not syntax.ok:
            yield number, cells[column][:1000], None, syntax.reason, "{}"
            continue
        variables = {h: c for i, (h, c) in enumerate(zip(header, cells, strict=True)) if i != column}
        yield number, cells[column], syntax.normalized.lower(), None, json.dumps(variables)


async def _import(conn: asyncpg.Connection, tenant: str, list_name: str, rows: Iterator[ImportRow]) -> int:
    """Rows into a temporary table in batches; duplicates and suppressed addresses marked there; the
    rest inserted. Returns how many rows were good (inserted, or already on the list)."""
    await conn.execute(
        "CREATE TEMPORARY TABLE import_rows (line integer PRIMARY KEY, address text, key text, "
        "problem text, variables jsonb NOT NULL) ON COMMIT DROP"
    )
    columns = ["line", "address", "key", "problem", "variables"]
    while batch := list(itertools.islice(rows, BATCH)):
        await conn.copy_records_to_table("import_rows", records=batch, columns=columns)
    await conn.execute("CREATE INDEX ON import_rows (key)")
    await conn.execute(
        "UPDATE import_rows r SET problem = 'duplicate of line ' || f.first "
        "FROM (SELECT key, min(line) AS first FROM import_rows WHERE problem IS NULL GROUP BY key) f "
        "WHERE r.problem IS NULL AND r.key = f.key AND r.line > f.first"
    )
    await conn.execute(
        "UPDATE import_rows r SET problem = 'suppressed for this tenant', address = r.key "
        "FROM suppressions s WHERE r.problem IS NULL AND s.tenant = $1 AND s.address = r.key",
        tenant,
    )
    await conn.execute(
        "INSERT INTO recipients (tenant, list_name, address, variables) "
        "SELECT $1, $2, key, variables FROM import_rows WHERE problem IS NULL ORDER BY line "
        "ON CONFLICT (tenant, list_name, address) DO NOTHING",
        tenant,
        list_name,
    )
    imported: int = await conn.fetchval("SELECT count(*) FROM import_rows WHERE problem IS NULL")
    return imported


async def _report(kind: str, imported: int, tenant: str, list_name: str, problems: Any) -> int:
    """Print the report as the problems stream from Postgres; how many rows were left out."""
    count = 0
    if kind == "json":
        sys.stdout.write(f'{{"imported": {imported}, "rejected": [')
        async for row in problems:
            item = {"line": row["line"], "problem": row["problem"]}
            if row["address"] is not None:
                item = {"line": row["line"], "address": row["address"], "problem": row["problem"]}
            sys.stdout.write((", " if count else "") + json.dumps(item))
            count += 1
        sys.stdout.write("]}\n")
        return count
    out.print(f"imported {imported} recipient(s) into {escape(tenant)}/{escape(list_name)}")
    table: Table | None = None
    async for row in problems:
        if table is None:
            table = Table(title="row(s) left out")
            for c in ("line", "address", "problem"):
                table.add_column(c)
        table.add_row(str(row["line"]), escape(row["address"] or ""), escape(row["problem"]))
        count += 1
        if count % TABLE_ROWS == 0:
            out.print(table)
            table = None
    if table is not None:
        out.print(table)
    if count:
        out.print(f"{count} row(s) left out")
    return count


def register(app: typer.Typer) -> None:
    app.command("import-recipients")(import_recipients_cmd)
