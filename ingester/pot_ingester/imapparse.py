"""Pure readers of IMAP responses as aioimaplib hands them over (a list of lines, literals as
bytearrays); used by pot_ingester.session. Unit-tested with the responses real servers send."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]", re.IGNORECASE)
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]", re.IGNORECASE)
_FETCH_START = re.compile(rb"^\d+ FETCH \(", re.IGNORECASE)
_UID = re.compile(rb"\bUID (\d+)", re.IGNORECASE)
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"', re.IGNORECASE)
_LITERAL = re.compile(rb"\{(\d+)\}$")


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes
    arrived: datetime | None  # the server's INTERNALDATE: when the message landed in the inbox


def uidvalidity(lines: list[bytes]) -> int | None:
    """UIDVALIDITY from a SELECT/EXAMINE response (None when the server gave none)."""
    for line in lines:
        found = _UIDVALIDITY.search(bytes(line))
        if found:
            return int(found.group(1))
    return None


def uidnext(lines: list[bytes]) -> int | None:
    for line in lines:
        found = _UIDNEXT.search(bytes(line))
        if found:
            return int(found.group(1))
    return None


def search_uids(lines: list[bytes]) -> list[int]:
    """UIDs from a UID SEARCH response, sorted. aioimaplib hands `* SEARCH 4 5 9` over as `4 5 9` (it
    strips the name of an untagged response it routes to the command) or whole; both are read."""
    uids: set[int] = set()
    for line in lines:
        tokens = bytes(line).split()
        if tokens and tokens[0].upper() == b"SEARCH":
            tokens = tokens[1:]
        if tokens and all(token.isdigit() for token in tokens):
            uids.update(int(token) for token in tokens)
    return sorted(uids)


def internaldate(value: bytes) -> datetime | None:
    try:
        return datetime.strptime(value.decode("ascii").strip(), "%d-%b-%Y %H:%M:%S %z")
    except (ValueError, UnicodeDecodeError):
        return None


def fetched(lines: list[bytes | bytearray]) -> list[Fetched]:
    """The messages of a UID FETCH (UID INTERNALDATE BODY.PEEK[]<0.n>) response, in UID order.

    A FETCH line announcing a literal is followed by the literal (a bytearray) and a closing line;
    items may come in any order, so UID and INTERNALDATE are read from the line before and after the
    literal. Untagged FETCHes without a body (a flag change another client made) are skipped.
    """
    out: dict[int, Fetched] = {}
    i = 0
    while i < len(lines):
        line = bytes(lines[i])
        if _FETCH_START.match(line) and _LITERAL.search(line) and i + 1 < len(lines):
            raw = bytes(lines[i + 1])
            tail = bytes(lines[i + 2]) if i + 2 < len(lines) and isinstance(lines[i + 2], bytes) else b""
            meta = line + b" " + tail
            uid = _UID.search(meta)
            date = _INTERNALDATE.search(meta)
            if uid:
                out[int(uid.group(1))] = Fetched(
                    int(uid.group(1)), raw, internaldate(date.group(1)) if date else None
                )
            i += 3 if tail else 2
            continue
        i += 1
    return [out[uid] for uid in sorted(out)]


def exists_pushed(lines: list[bytes]) -> bool:
    """Whether an IDLE push says the inbox changed (`* n EXISTS`, or `RECENT`)."""
    return any(re.search(rb"\d+ (EXISTS|RECENT)\b", bytes(line), re.IGNORECASE) for line in lines)
