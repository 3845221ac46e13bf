"""potctl's suppression and feedback commands (Postgres); registered by potctl.main.

The tables (suppressions, delivery_events, campaigns) belong to pot_common.db; the SQL here only reads
and writes rows in them. Files are read a bounded line at a time and sent in batches; every input is
checked (potctl.inputs) before anything is written.
"""

from __future__ import annotations

import csv
import functools
import itertools
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import asyncpg
import typer
from pot_deliverability import emailcheck
from rich.markup import escape
from rich.table import Table

from potctl import inputs
from potctl.console import checked, err, fail, out
from potctl.database import BATCH, DatabaseOpt, TenantOpt, csv_records, open_input, run_db


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


suppression = typer.Typer(
    help=(
        "Addresses never to send to again, per tenant. The workers skip suppressed recipients. With "
        "--list NAME: a named list, honoured only by the campaigns naming it in spec.suppressionLists."
    ),
    no_args_is_help=True,
)
ListOpt = Annotated[
    str | None,
    typer.Option(
        "--list",
        help="A named suppression list of the tenant (honoured by the campaigns naming it in "
        "spec.suppressionLists).",
    ),
]


def _list_name(name: str | None) -> str | None:
    return None if name is None else checked(functools.partial(inputs.name, name, "--list"))


@suppression.command("add")
def suppression_add(
    addresses: Annotated[list[str], typer.Argument(help="One or more addresses.")],
    tenant: TenantOpt,
    reason: Annotated[Reason, typer.Option("--reason", help="Why it is suppressed.")] = Reason.MANUAL,
    source: Annotated[str, typer.Option("--source", help="Free text: who or what asked for it.")] = "potctl",
    list_name: ListOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Suppress addresses for a tenant (stored lower-case; adding one twice keeps the first reason), or
    with --list add them to that named list (--reason is then not stored).

    Each must be an email address (special-use domains such as .test included); exit status 2 names
    the first that is not, and nothing is stored.
    """
    tenant = checked(lambda: inputs.name(tenant, "--tenant"))
    source = checked(lambda: inputs.text(source, "--source", empty=True))
    named = _list_name(list_name)
    normalized = [checked(functools.partial(inputs.address, a)) for a in addresses]

    async def work(conn: asyncpg.Connection) -> int:
        if named is not None:
            await conn.executemany(
                "INSERT INTO suppression_list_entries (tenant, list_name, address, source) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, list_name, address) DO NOTHING",
                [(tenant, named, a, source) for a in normalized],
            )
            return len(normalized)
        await conn.executemany(
            "INSERT INTO suppressions (tenant, address, reason, source) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (tenant, address) DO NOTHING",
            [(tenant, a, reason.value, source) for a in normalized],
        )
        return len(normalized)

    count = run_db(database_url, work)
    where = f" in list {escape(named)}" if named is not None else ""
    err.print(f"suppressed {count} address(es) for {escape(tenant)}{where}", highlight=False)


@suppression.command("remove")
def suppression_remove(
    addresses: Annotated[list[str], typer.Argument(help="One or more addresses.")],
    tenant: TenantOpt,
    list_name: ListOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Lift the suppression of addresses for a tenant, or take them off a named list with --list
    (exit 1 if none of them was there)."""
    tenant = checked(lambda: inputs.name(tenant, "--tenant"))
    named = _list_name(list_name)
    keys = [checked(functools.partial(inputs.text, a, "address", most=4 * 254)) for a in addresses]
    keys = [k.strip().lower() for k in keys]

    async def work(conn: asyncpg.Connection) -> int:
        if named is not None:
            rows = await conn.fetch(
                "DELETE FROM suppression_list_entries WHERE tenant = $1 AND list_name = $2 "
                "AND address = ANY($3::text[]) RETURNING address",
                tenant,
                named,
                keys,
            )
            return len(rows)
        rows = await conn.fetch(
            "DELETE FROM suppressions WHERE tenant = $1 AND address = ANY($2::text[]) RETURNING address",
            tenant,
            keys,
        )
        return len(rows)

    count = run_db(database_url, work)
    err.print(f"removed {count} suppression(s) for {escape(tenant)}", highlight=False)
    raise typer.Exit(0 if count else 1)


async def _list(
    conn: asyncpg.Connection, tenant: str, reason: Reason | None, named: str | None
) -> list[asyncpg.Record]:
    if named is not None:
        return list(
            await conn.fetch(
                "SELECT address, $3::text AS reason, source, created_at FROM suppression_list_entries "
                "WHERE tenant = $1 AND list_name = $2 ORDER BY address",
                tenant,
                named,
                f"list:{named}",
            )
        )
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
    list_name: ListOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Show a tenant's suppressed addresses (or those of one named list, with --list) as a table."""
    tenant = checked(lambda: inputs.name(tenant, "--tenant"))
    named = _list_name(list_name)
    rows = run_db(database_url, lambda conn: _list(conn, tenant, reason, named))
    where = f" in list {escape(named)}" if named is not None else ""
    table = Table(title=f"Suppressed for {escape(tenant)}{where}")
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
        run_db(database_url, work)
    finally:
        if output:
            target.close()


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
        stream = open_input(csv_file, "--csv")
        header, records = csv_records(stream, inputs.shown(str(csv_file)))
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

    count = run_db(database_url, work)
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


def register(app: typer.Typer) -> None:
    app.add_typer(suppression, name="suppression")
    app.command("feedback")(feedback_cmd)
