"""The checker's bulk I/O: address rows from CSV or text, streamed, and the resume file; for potctl.

Input is read a line at a time with a bound on a line's length, so a file of any size, or one line of
100 MB, takes the same memory; whatever cannot be read becomes a BadRow with its line number.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pot_deliverability.emailcheck.model import EmailResult, Verdict

ADDRESS_COLUMNS = ("email", "e-mail", "email_address", "emailaddress", "address", "mail")
MAX_LINE = 64 * 1024  # bytes: far beyond any address (254) or a CSV row of one recipient
SNIFF_LINES = 20


@dataclass(frozen=True)
class BadRow:
    line: int
    why: str


def read_lines(stream: BinaryIO, max_line: int = MAX_LINE) -> Iterator[tuple[int, str] | BadRow]:
    """Numbered, decoded lines without their line ends; a line over `max_line` bytes is skipped (its
    rest read in chunks, never held) and one that is not UTF-8 is a BadRow."""
    for number in itertools.count(1):
        raw = stream.readline(max_line + 1)
        if not raw:
            return
        if len(raw) > max_line and not raw.endswith(b"\n"):
            rest = raw
            while rest and not rest.endswith(b"\n"):
                rest = stream.readline(1 << 20)
            yield BadRow(number, f"line longer than {max_line} bytes, skipped")
            continue
        raw = raw.removesuffix(b"\n").removesuffix(b"\r")
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield BadRow(number, f"not UTF-8 ({exc.reason} at byte {exc.start})")


def read_rows(
    source: BinaryIO | bytes, *, csv_format: bool | None = None
) -> Iterator[tuple[int, str] | BadRow]:
    """Addresses with line numbers from CSV (an email column by header, else the first) or text (one a line).

    `csv_format` None looks at the first lines for a comma or semicolon. Blank lines are skipped; a line
    of text is an address even when it starts with `#` (a valid local part may). A row that cannot be
    read comes out as a BadRow, and the rest go on.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    lines = read_lines(stream)
    head = list(itertools.islice(lines, SNIFF_LINES))
    if csv_format is None:
        csv_format = any("," in t[1] or ";" in t[1] for t in head if not isinstance(t, BadRow))
    everything = itertools.chain(head, lines)
    if not csv_format:
        for item in everything:
            if isinstance(item, BadRow):
                yield item
            elif item[1].strip():
                yield item[0], item[1].strip()
        return
    yield from _csv_rows(everything)


def _csv_rows(lines: Iterator[tuple[int, str] | BadRow]) -> Iterator[tuple[int, str] | BadRow]:
    column: int | None = None
    width = 0
    for item in lines:
        if isinstance(item, BadRow):
            yield item
            continue
        number, text = item
        if not text.strip():
            continue
        try:
            cells = next(csv.reader([text]))
        except csv.Error as exc:
            yield BadRow(number, f"unreadable CSV row: {exc}")
            continue
        if column is None:
            header = [c.strip().lower() for c in cells]
            width = len(cells)
            found = next((header.index(n) for n in ADDRESS_COLUMNS if n in header), None)
            if found is not None:
                column = found
                continue
            column = 0
        if len(cells) != width:
            yield BadRow(number, f"{len(cells)} columns where the header has {width}")
            continue
        value = cells[column].strip()
        if not value:
            yield BadRow(number, "no address in the email column")
            continue
        yield (number, value)


class ResumeState:
    """A JSON-lines file of finished results, appended as they come, so a long run can stop and go on.

    The results already in the file are held (by line and address) to be given out again in place of
    checking those rows; lines a crash left broken are skipped.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[tuple[int, str], EmailResult] = {}
        if path.exists():
            with path.open(encoding="utf-8", errors="replace") as lines:
                for text in lines:
                    with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                        item = json.loads(text)
                        item["result"] = Verdict(item["result"])
                        result = EmailResult(**item)
                        self.done[(result.line, result.address)] = result
        self._file = path.open("a")

    def record(self, result: EmailResult) -> None:
        self._file.write(json.dumps(result.as_dict()) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
