"""potctl's Postgres-backed commands: suppression, feedback and import-recipients; registered by potctl.main.

The tables (suppressions, delivery_events, recipients, campaigns) belong to pot_common.db; the SQL
here only reads and writes rows in them (and, for an import, in a temporary table of its own). Files
are read a bounded line at a time and sent in batches, so a file of any size takes the same memory;
every input is checked (potctl.inputs) before anything is written.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import itertools
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any, BinaryIO, TypeVar

import asyncpg
import typer
from pot_common.addresses import check_syntax
from pot_deliverability import emailcheck
from pot_deliverability.emailcheck.lists import read_lines
from rich.markup import escape
from rich.table import Table

from potctl import inputs
from potctl.console import err, fail, out

T = TypeVar("T")
BATCH = 5000  # rows sent to Postgres at once
TABLE_ROWS = 1000  # rows of a report table printed at once

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


def checked(check: Callable[[], T]) -> T:
    """`check()`'s value, or the one-line error and exit status 2 when the input is bad."""
    try:
        return check()
    except inputs.BadInput as exc:
        fail(str(exc), 2)


def _run(database_url: str | None, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    url = database_url or os.environ.get("POT_DATABASE_URL")
    if not url:
        fail("no database: set POT_DATABASE_URL or give --database-url", 2)
    if not url.startswith(("postgresql://", "postgres://")):
        fail("--database-url/POT_DATABASE_URL: not a postgresql:// URL", 2)

    async def go() -> T:
        try:
            conn = await asyncpg.connect(url, timeout=15)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            fail(f"cannot connect to Postgres: {exc.__class__.__name__}")
        except ValueError as exc:  # the URL's parts (port, options) do not parse; it may hold a password
            fail(f"--database-url/POT_DATABASE_URL does not parse: {exc.__class__.__name__}", 2)
        try:
            return await work(conn)
        except asyncpg.UndefinedTableError as exc:
            fail(f"the POT schema is missing ({exc}); the operator creates it on start")
        except asyncpg.PostgresError as exc:
            fail(f"Postgres refused it: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}")
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
    """Suppress addresses for a tenant (stored lower-case; adding one twice keeps the first reason).

    Each must be an email address (special-use domains such as .test included); exit status 2 names
    the first that is not, and nothing is stored.
    """
    tenant = checked(lambda: inputs.name(tenant, "--tenant"))
    source = checked(lambda: inputs.text(source, "--source", empty=True))
    normalized = [checked(functools.partial(inputs.address, a)) for a in addresses]

    async def work(conn: asyncpg.Connection) -> int:
        await conn.executemany(
            "INSERT INTO suppressions (tenant, address, reason, source) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (tenant, address) DO NOTHING",
            [(tenant, a, reason.value, source) for a in normalized],
        )
        return len(normalized)

    count = _run(database_url, work)
    err.print(f"suppressed {count} address(es) for {escape(tenant)}", highlight=False)


@suppression.command("remove")
def suppression_remove(
    addresses: Annotated[list[str], typer.Argument(help="One or more addresses.")],
    tenant: TenantOpt,
    database_url: DatabaseOpt = None,
) -> None:
    """Lift the suppression of addresses for a tenant (exit 1 if none of them was suppressed)."""
    tenant = checked(lambda: inputs.name(tenant, "--tenant"))
    keys = [checked(functools.partial(inputs.text, a, "address", most=4 * 254)) for a in addresses]
    keys = [k.strip().lower() for k in keys]

    async def work(conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "DELETE FROM suppressions WHERE tenant = $1 AND address = ANY($2::text[]) RETURNING address",
            tenant,
            keys,
        )
        return len(rows)

    count = _run(database_url, work)
    err.print(f"removed {count} suppression(s) for {escape(tenant)}", highlight=False)
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
    tenant = checked(lambda: inputs.name(tenant, "--tenant"))
    rows = _run(database_url, lambda conn: _list(conn, tenant, reason))
    table = Table(title=f"Suppressed for {escape(tenant)}")
    for column in ("address", "reason", "source", "since"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            escape(row["address"]),
            row["reason"],
            escape(row["source"]),
            row["created_at"].isoformat(timespec="seconds"),
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
    """Export a tenant's suppressions as CSV (address,reason,source,created_at), streamed from Postgres."""
    tenant = checked(lambda: inputs.name(tenant, "--tenant"))
    try:
        target: IO[str] = output.open("w", newline="") if output else sys.stdout
    except OSError as exc:
        fail(f"--output {inputs.shown(str(output))}: cannot write it ({exc.strerror or exc})", 2)

    async def work(conn: asyncpg.Connection) -> int:
        writer = csv.writer(target)
        writer.writerow(["address", "reason", "source", "created_at"])
        count = 0
        async with conn.transaction():
            async for row in conn.cursor(
                "SELECT address, reason, source, created_at FROM suppressions WHERE tenant = $1 "
                "AND ($2::text IS NULL OR reason = $2) ORDER BY address",
                tenant,
                reason.value if reason else None,
            ):
                writer.writerow([row["address"], row["reason"], row["source"], row["created_at"].isoformat()])
                count += 1
        return count

    try:
        _run(database_url, work)
    finally:
        if output:
            target.close()


def _csv_records(
    stream: BinaryIO, what: str
) -> tuple[list[str], Iterator[tuple[int, list[str]] | emailcheck.BadRow]]:
    """The header's cells, and then each row's cells (or why it cannot be read), a bounded line at a time."""
    lines = read_lines(stream)
    first = next(lines, None)
    if first is None or isinstance(first, emailcheck.BadRow) or not first[1].strip():
        why = first.why if isinstance(first, emailcheck.BadRow) else "it is empty"
        fail(f"{what}: no header line ({why})", 2)
    try:
        header = [h.strip() for h in next(csv.reader([first[1]]))]
    except csv.Error as exc:
        fail(f"{what}: the header line is not CSV ({exc})", 2)

    def rows() -> Iterator[tuple[int, list[str]] | emailcheck.BadRow]:
        for item in lines:
            if isinstance(item, emailcheck.BadRow):
                yield item
                continue
            number, text = item
            try:
                cells = next(csv.reader([text]), [])
            except csv.Error as exc:
                yield emailcheck.BadRow(number, f"unreadable CSV row: {exc}")
                continue
            if any(c.strip() for c in cells):
                yield number, cells

    return header, rows()


def _open(path: Path, what: str) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        fail(f"cannot read {inputs.shown(str(path))}: {exc.strerror or exc}", 2)


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
    acme`) or a CSV (`--csv feedback.csv`); bad CSV rows (no such kind, not an address, unreadable)
    are reported with their line number and the others are recorded.
    """
    if not tenant:
        fail("--tenant is required", 2)
    tenant = checked(lambda: inputs.name(tenant, "--tenant"))
    where = checked(lambda: inputs.campaign(campaign)) if campaign is not None else None
    if csv_file is not None:
        stream = _open(csv_file, "--csv")
        header, records = _csv_records(stream, inputs.shown(str(csv_file)))
        lower = [h.lower() for h in header]
        if "address" not in lower or "kind" not in lower:
            stream.close()
            fail(f"{inputs.shown(str(csv_file))}: the header needs the columns address and kind", 2)
        items = _feedback_rows(records, lower.index("address"), lower.index("kind"))
    elif kind is not None and address:
        items = iter([(0, kind, checked(lambda: inputs.address(address)))])
    else:
        fail("give KIND ADDRESS, or --csv FILE", 2)

    async def work(conn: asyncpg.Connection) -> int:
        campaign_id = None
        if where is not None:
            campaign_id = await conn.fetchval(
                "SELECT id FROM campaigns WHERE namespace = $1 AND name = $2", *where
            )
            if campaign_id is None:
                fail(f"no campaign {where[0]}/{where[1]} in the database")
        count = 0
        async with conn.transaction():
            while batch := list(itertools.islice(items, BATCH)):
                await conn.executemany(
                    "INSERT INTO delivery_events (campaign_id, recipient, outcome, reply) "
                    "VALUES ($1, $2, $3, $4)",
                    [
                        (campaign_id, a, FEEDBACK_EFFECT[w][0], "recorded by potctl feedback")
                        for _, w, a in batch
                    ],
                )
                await conn.executemany(
                    "INSERT INTO suppressions (tenant, address, reason, source) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, address) DO NOTHING",
                    [
                        (tenant, a, reason, f"feedback:{w.value}")
                        for _, w, a in batch
                        if (reason := FEEDBACK_EFFECT[w][1])
                    ],
                )
                count += len(batch)
        return count

    count = _run(database_url, work)
    err.print(f"recorded {count} feedback item(s) for {escape(tenant)}", highlight=False)


def _feedback_rows(
    records: Iterator[tuple[int, list[str]] | emailcheck.BadRow], address_at: int, kind_at: int
) -> Iterator[tuple[int, Feedback, str]]:
    """(line, kind, address) of each good row; the others reported on stderr with their line."""
    for record in records:
        if isinstance(record, emailcheck.BadRow):
            err.print(f"line {record.line}: {record.why}", highlight=False)
            continue
        number, cells = record
        try:
            what = Feedback(cells[kind_at].strip().lower())
            recipient = inputs.address(cells[address_at])
        except (ValueError, IndexError):
            err.print(
                f"line {number}: need address and kind (bounce, complaint, unsubscribe, reply)",
                highlight=False,
            )
            continue
        yield number, what, recipient


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
    stream = _open(source, "SOURCE")
    header, records = _csv_records(stream, inputs.shown(str(source)))
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
        left_out = _run(database_url, work)
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
    app.add_typer(suppression, name="suppression")
    app.command("feedback")(feedback_cmd)
    app.command("import-recipients")(import_recipients_cmd)
