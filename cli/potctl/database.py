"""What potctl's Postgres commands share: the connection (`run_db`), the options, CSV input a bounded line
at a time; for db_commands and import_commands.
"""

from __future__ import annotations

import asyncio
import csv
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, BinaryIO, TypeVar

import asyncpg
import typer
from pot_deliverability import emailcheck
from pot_deliverability.emailcheck.lists import read_lines

from potctl import inputs
from potctl.console import fail

T = TypeVar("T")
BATCH = 5000  # rows sent to Postgres at once

DatabaseOpt = Annotated[
    str | None, typer.Option("--database-url", help="postgresql://… Default: POT_DATABASE_URL.")
]
TenantOpt = Annotated[
    str, typer.Option("--tenant", help="The client the addresses belong to (suppression is per tenant).")
]


def run_db(database_url: str | None, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
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


def csv_records(
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


def open_input(path: Path, what: str) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        fail(f"cannot read {inputs.shown(str(path))}: {exc.strerror or exc}", 2)
