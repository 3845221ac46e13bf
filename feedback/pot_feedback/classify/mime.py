"""Tolerant, bounded reading of a raw message for the classifier: headers, text, parts, returned original.

Everything here takes whatever bytes arrive in an inbox and answers with empty values rather than
raising: the stdlib parser with compat32 (it records defects instead of raising), every decode wrapped,
and the work capped (bytes parsed, parts walked, text kept) so one huge or hostile message costs
no more than a normal one.
"""

from __future__ import annotations

import contextlib
import html
import re
from email import message_from_bytes, message_from_string
from email.header import Header, decode_header, make_header
from email.message import Message
from email.policy import compat32
from typing import Any, cast

MAX_BYTES = 256 * 1024  # only the head of a message is parsed; a bounce's facts come first
MAX_PARTS = 40  # parts walked per message
MAX_NESTING = 32  # multipart containers parsed per message
MAX_TEXT = 64 * 1024  # characters of decoded text kept per part
MAX_HEADER = 8 * 1024  # characters of one header value read (a long References still fits)

# A tag: each attempt stops at the next "<", so a page of unclosed "<" stays linear.
_TAG = re.compile(r"<([^<>]{0,2000})>")
_BLOCKS = frozenset({"br", "p", "div", "tr", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "pre"})
_MSGID = re.compile(r"<[^<>\s]{1,250}>")
_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-'=&/!#$*?^`{|}~")
_DOMAIN = re.compile(r"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,10}")


def parse(raw: bytes) -> Message:
    """The message in `raw` (its first MAX_BYTES), parsed tolerantly.

    The parser recurses once per nested multipart: the bytes after the MAX_NESTING-th multipart
    header are left out, so a message built to nest thousands deep costs no more than a normal one.
    """
    head = raw[:MAX_BYTES]
    lower = head.lower()
    at = -1
    for _ in range(MAX_NESTING):
        at = lower.find(b"multipart/", at + 1)
        if at < 0:
            break
    else:
        head = head[:at]
    return message_from_bytes(head, policy=compat32)


def header(msg: Message, name: str) -> str:
    """Header `name` as text, encoded words decoded, whitespace folded; "" when absent or unreadable."""
    try:
        value = msg.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    text = str(value) if isinstance(value, Header) else value
    if not isinstance(text, str):
        return ""
    text = text[:MAX_HEADER]
    if "=?" in text:
        with contextlib.suppress(Exception):  # a broken encoded word: the raw text still says something
            text = str(make_header(decode_header(text)))
    return " ".join(text.split())


def ctype(msg: Message) -> str:
    try:
        return msg.get_content_type()
    except Exception:
        return "text/plain"


def param(msg: Message, name: str) -> str:
    try:
        value = msg.get_param(name)
    except Exception:
        return ""
    return value.lower() if isinstance(value, str) else ""


def parts(msg: Message) -> list[tuple[Message, str]]:
    """The message and its parts with their content types, depth first, at most MAX_PARTS.

    A returned message/rfc822 is not entered (its parts are the original's, not the report's). The
    list is kept on the message: every reader walks the same parts, and content types cost a parse.
    """
    cached = msg.__dict__.get("_pot_parts")
    if cached is not None:
        return cast("list[tuple[Message, str]]", cached)
    found: list[tuple[Message, str]] = []
    stack = [msg]
    while stack and len(found) < MAX_PARTS:
        part = stack.pop()
        kind = ctype(part)
        found.append((part, kind))
        if kind == "message/rfc822" and part is not msg:
            continue
        payload = payload_of(part)
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
    msg.__dict__["_pot_parts"] = found
    return found


def first_part(msg: Message, *kinds: str) -> Message | None:
    """The first part (not the message itself) of one of these content types."""
    for part, kind in parts(msg):
        if kind in kinds and part is not msg:
            return part
    return None


def payload_of(part: Message, decode: bool = False) -> Any:
    """The part's payload (decoded from base64/quoted-printable if asked), None if the parser gives up."""
    with contextlib.suppress(Exception):
        return part.get_payload(decode=True) if decode else part.get_payload()
    return None


def part_text(part: Message, kind: str = "text/plain") -> str:
    """The decoded text of one text/* part (HTML reduced to text); "" for anything else or on failure."""
    data = payload_of(part, decode=True)
    if not isinstance(data, bytes):
        return ""
    data = data[: MAX_TEXT * 2]
    charset = "utf-8"
    with contextlib.suppress(Exception):
        charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, errors="replace")
    except (LookupError, ValueError):
        text = data.decode("utf-8", errors="replace")
    text = text[:MAX_TEXT]
    if kind == "text/html":
        text = html_to_text(text)
    return text


def html_to_text(text: str) -> str:
    """Visible text of an HTML body, with line breaks where blocks end (so quote markers stay on lines)."""
    text = _drop_blocks(text, "style")
    text = _drop_blocks(text, "script")
    return html.unescape(_TAG.sub(_tag_text, text))


def _tag_text(match: re.Match[str]) -> str:
    name = match.group(1).lstrip("/").split(None, 1)[0].lower() if match.group(1).strip("/ ") else ""
    return "\n" if name in _BLOCKS else ""


def _drop_blocks(text: str, name: str) -> str:
    """`text` without its <name>...</name> elements (an unclosed one runs to the end), found by str.find."""
    lower = text.lower()
    if f"<{name}" not in lower:
        return text
    kept: list[str] = []
    start = 0
    while (open_at := lower.find(f"<{name}", start)) >= 0:
        kept.append(text[start:open_at])
        close_at = lower.find(f"</{name}", open_at)
        if close_at < 0:
            return "".join(kept)
        end = lower.find(">", close_at)
        start = len(text) if end < 0 else end + 1
    kept.append(text[start:])
    return "".join(kept)


def body_text(msg: Message) -> str:
    """The message's own readable text: its text/plain parts (else text/html), not a returned message's."""
    plain: list[str] = []
    rich: list[str] = []
    for part, kind in parts(msg):
        if kind == "text/plain":
            plain.append(part_text(part))
        elif kind == "text/html":
            rich.append(part_text(part, kind))
    return "\n".join(plain or rich)


def returned_message(msg: Message) -> Message | None:
    """The original a report returns (a message/rfc822 or text/rfc822-headers part), its headers at least."""
    for part, kind in parts(msg):
        if part is msg:
            continue
        if kind == "message/rfc822":
            payload = payload_of(part)
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            if isinstance(payload, str):
                return headers_only(payload)
        elif kind in ("text/rfc822-headers", "message/rfc822-headers"):
            payload = payload_of(part, decode=True)
            if isinstance(payload, bytes):
                return headers_only(payload.decode("utf-8", errors="replace"))
    return None


def headers_only(text: str) -> Message | None:
    """Headers parsed from text that starts with a header block (an inline copy of a returned message)."""
    head = text.lstrip("\r\n")[:MAX_TEXT]
    end = head.find("\n\n")
    if end >= 0:
        head = head[: end + 1]
    try:
        parsed = message_from_string(head, policy=compat32)
    except Exception:
        return None
    return parsed if len(parsed) else None


def message_ids(value: str) -> list[str]:
    """The "<id>" tokens in a header value such as References."""
    return _MSGID.findall(value)


def addresses(text: str, limit: int = 20) -> list[str]:
    """Mail addresses in `text`, lower case, in order; found by scanning out from each "@" (linear)."""
    found: list[str] = []
    start = 0
    while len(found) < limit:
        at = text.find("@", start)
        if at < 0:
            break
        start = at + 1
        left = at
        while left > 0 and at - left < 64 and text[left - 1] in _LOCAL:
            left -= 1
        local = text[left:at].strip(".'/=&!#$*?^`{|}~")
        match = _DOMAIN.match(text, at + 1, min(len(text), at + 256))
        if not local or match is None:
            continue
        domain = match.group().rstrip(".-")
        if "." not in domain or not domain.rsplit(".", 1)[1].isalpha():
            continue
        address = f"{local}@{domain}".lower()
        if address not in found:
            found.append(address)
    return found


def first_address(value: str) -> str | None:
    found = addresses(value, 1)
    return found[0] if found else None


def field_blocks(text: str) -> list[dict[str, str]]:
    """`Name: value` blocks separated by blank lines (a report body left as text), folded lines joined."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines()[:400]:
        if not line.strip():
            if current:
                blocks.append(current)
                current, last = {}, ""
            continue
        if line[:1] in (" ", "\t") and last:
            current[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep:
            last = name.strip().lower()
            current[last] = value.strip()
    if current:
        blocks.append(current)
    return blocks
