"""The checker's bulk I/O: address rows from CSV or text, and the resumable results file; for potctl."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pot_deliverability.emailcheck.model import EmailResult, Verdict

ADDRESS_COLUMNS = ("email", "e-mail", "email_address", "emailaddress", "address", "mail")


@dataclass(frozen=True)
class BadRow:
    line: int
    why: str


def read_rows(data: bytes, *, csv_format: bool | None = None) -> Iterator[tuple[int, str] | BadRow]:
    """Addresses with line numbers from CSV (an email column by header, else the first) or text (one a line).

    A row that cannot be read comes out as a BadRow, and the rest go on.
    """
    lines = data.split(b"\n")
    texts: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, start=1):
        try:
            texts.append((number, raw.decode("utf-8").rstrip("\r")))
        except UnicodeDecodeError as exc:
            yield BadRow(number, f"not UTF-8 ({exc.reason} at byte {exc.start})")
    if csv_format is None:
        csv_format = any("," in text or ";" in text for _, text in texts[:20])
    if not csv_format:
        for number, text in texts:
            text = text.strip()
            if text and not text.startswith("#"):
                yield (number, text)
        return
    column: int | None = None
    width = 0
    for number, text in texts:
        if not text.strip():
            continue
        try:
            cells = next(csv.reader(io.StringIO(text)))
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
    """A JSON-lines file of finished results, appended as they come, so a long run can stop and go on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[tuple[int, str], EmailResult] = {}
        if path.exists():
            for text in path.read_text().splitlines():
                with contextlib.suppress(ValueError, KeyError, TypeError):
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
