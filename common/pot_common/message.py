"""Builds each outgoing message from the campaign template and the recipient's variables.

Called by the worker for every job (pot_worker.planner) and by `potctl preview`, so a preview is
the message the worker sends. Subject and bodies are campaign templates (pot_common.templates: Jinja2
sandboxed, strict, with fallbacks and spintax); the unsubscribe link is filled with URL-quoted values
and the recipient's token (pot_common.unsubscribe).

Recipient data can never add a header: values placed in headers lose CR, LF and every other control
character, the recipient is parsed as exactly one addr-spec, and the email package's generator refuses
a header value that embeds another header as a second guard. A Subject longer than one line may be
(998 octets) is written as RFC 2047 encoded words, folded. `build_message` assembles the message
with the compat32 MIME classes (EmailMessage with the modern policy cost 0.59 ms per message against
0.11 ms, for no gain on these simple messages). `render_message`, which the worker calls for every job,
writes the same bytes without building those objects (they and the generator's walk were a fifth of
the worker's CPU per message, bench/pipeline.py): each header still goes through the policy's
fold_binary, the guard above included. tests/unit/common/test_message.py holds the two byte for byte.
"""

from __future__ import annotations

import functools
import html
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.charset import QP, Charset
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.policy import Compat32
from email.utils import format_datetime, formataddr
from typing import Any
from urllib.parse import quote

from pot_common.addresses import is_plain_address
from pot_common.templates import compile_template, context, spin_seed
from pot_common.unsubscribe import link_with_token

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# Quoted-printable keeps bodies readable on the wire; SMTP wants CRLF line ends.
_QP_CHARSET = Charset("utf-8")
_QP_CHARSET.body_encoding = QP
# The line ends the email package's generator rewrites to the policy's linesep (its NLCRE).
_NEWLINES = re.compile(r"\r\n|\r|\n")
MAX_LINE = 998  # octets in a header line, CRLF excluded (RFC 5322 2.1.1)


class WirePolicy(Compat32):
    """compat32 with a fast path for the usual header: one short ASCII line, which compat32's Header
    folding would return unchanged at a fifth of the pipeline's cost (bench/pipeline.py profile).
    Anything else (long, non-ASCII, a line break) takes compat32's own path and its checks."""

    def fold_binary(self, name: str, value: str | Header) -> bytes:  # a Header: an over-long Subject
        limit = self.max_line_length or 0
        if (
            isinstance(value, str)
            and value.isascii()
            and "\r" not in value
            and "\n" not in value
            and (limit <= 0 or len(name) + 2 + len(value) <= limit)
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)  # type: ignore[arg-type]  # compat32 folds a Header


WIRE_POLICY = WirePolicy(linesep="\r\n")


class InvalidRecipient(ValueError):
    """The address cannot be used in an envelope or a To header."""


def header_safe(value: str) -> str:
    """A header value with every control character (CR and LF included) turned into one space."""
    return _CONTROL.sub(" ", value).strip()


def render(template: str, variables: Mapping[str, object], escape: bool = False) -> str:
    """Fill `{{ name }}` placeholders; unknown names become empty. No expressions, no attribute access.

    Only for the unsubscribe link and mailto, whose values are URL-quoted first; subject and bodies are
    campaign templates (pot_common.templates)."""

    def value(match: re.Match[str]) -> str:
        raw = variables.get(match.group(1))
        text = "" if raw is None else str(raw)
        return html.escape(text) if escape else text

    return _PLACEHOLDER.sub(value, template)


def parse_recipient(address: str) -> str:
    """The recipient as a single ASCII addr-spec, or InvalidRecipient."""
    if _CONTROL.search(address) or any(c.isspace() for c in address) or not address.isascii():
        raise InvalidRecipient("address contains whitespace, control or non-ASCII characters")
    # Dot-atom@dot-atom, the common case, is one addr-spec as written: the full parser, which also takes
    # quoted local parts and domain literals, was a fifth of the rendering cost.
    if is_plain_address(address):
        return address
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise InvalidRecipient(str(exc)) from exc
    if not parsed.username or not parsed.domain or parsed.addr_spec != address:
        raise InvalidRecipient("not a single addr-spec")
    return parsed.addr_spec


@dataclass(frozen=True)
class Template:
    """The parts of a campaign the message is built from.

    `variables` are the campaign's `template.variables`; `campaign` seeds the spintax choices with the
    recipient's address; `one_click` adds the RFC 8058 header to an HTTPS unsubscribe link.
    """

    subject: str
    text: str
    html: str | None
    unsubscribe_url: str | None
    unsubscribe_mailto: str | None
    variables: Mapping[str, str] = field(default_factory=dict)
    one_click: bool = True
    campaign: str = ""


def template_from_row(r: Mapping[str, Any]) -> Template:
    """The Template of a `campaigns` row as queries/worker_campaigns.sql reads it (worker and preview)."""
    return Template(
        r["subject_template"],
        r["text_template"],
        r["html_template"],
        r["unsubscribe_url"],
        r["unsubscribe_mailto"],
        json.loads(r.get("template_variables") or "{}"),
        r.get("unsubscribe_one_click", True),
        f"{r.get('namespace', r['tenant'])}/{r.get('name', r['id'])}",  # the spintax seed's campaign
    )


@dataclass(frozen=True)
class Sender:
    address: str
    display_name: str
    signature: str = ""

    def variables(self) -> dict[str, str]:
        return {
            "sender_name": self.display_name,
            "sender_email": self.address,
            "sender_signature": self.signature,
        }


def message_id(campaign_id: int, job_id: int, attempt: int, sender_address: str) -> str:
    """Deterministic per attempt, so a receiver or the sink can recognise a duplicate."""
    domain = sender_address.rpartition("@")[2] or "pot.invalid"
    return f"<pot.{campaign_id}.{job_id}.{attempt}@{header_safe(domain)}>"


def _unsubscribe_header(template: Template, variables: Mapping[str, object], token: str | None) -> str | None:
    links = []
    quoted = {k: quote(str(v), safe="") for k, v in variables.items()}
    if template.unsubscribe_url:
        url = render(template.unsubscribe_url, quoted)
        if token is not None:
            url = link_with_token(url, token)
        links.append(f"<{header_safe(url)}>")
    if template.unsubscribe_mailto:
        links.append(f"<mailto:{header_safe(render(template.unsubscribe_mailto, quoted))}>")
    return ", ".join(links) if links else None


def _subject(value: str) -> str | Header:
    """The Subject as written, or as encoded words when it could not fold into 998-octet lines."""
    if len(value) + len("Subject: ") <= MAX_LINE:
        return value
    return Header(value, "utf-8", header_name="Subject")


_PART_HEADERS = (("MIME-Version", "1.0"), ("Content-Transfer-Encoding", "quoted-printable"))


def text_part(body: str, subtype: str) -> Message:
    """The same part as MIMEText(body, subtype, utf-8 quoted-printable), without re-parsing the
    Content-Type it has just written (a third of the rendering cost)."""
    part = Message()
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    for name, value in _PART_HEADERS:
        part[name] = value
    part.set_payload(_QP_CHARSET.body_encode(body))
    return part


@functools.lru_cache(maxsize=8)
def _date(now: datetime) -> str:
    """The Date header; a batch renders all its messages with one `now`."""
    return format_datetime(now)


def new_boundary() -> str:
    """A multipart boundary. It starts with "=_", which quoted-printable bodies cannot contain (a "="
    there is always followed by two hex digits or a line end), and keeps the Content-Type header on
    one line."""
    return "=_pot_" + secrets.token_hex(8)


@dataclass(frozen=True)
class _Parts:
    headers: list[tuple[str, str | Header]]  # From onwards, in order
    text: str
    html: str | None


def render_parts(
    template: Template, sender: Sender, recipient: str, variables: Mapping[str, object]
) -> tuple[str, str, str | None]:
    """Subject, text and html for one recipient (TemplateError when a value is missing)."""
    values = context(
        recipient,
        variables,
        template.variables,
        sender.variables(),
        spin_seed(template.campaign, recipient),
    )
    subject = compile_template(template.subject).render(values)
    text = compile_template(template.text).render(values)
    html_body = compile_template(template.html, html=True).render(values) if template.html else None
    return subject, text, html_body


def _parts(
    template: Template,
    sender: Sender,
    recipient: str,
    variables: Mapping[str, object],
    msg_id: str,
    now: datetime,
    token: str | None = None,
) -> _Parts:
    to = parse_recipient(recipient)
    subject, text, html_body = render_parts(template, sender, recipient, variables)
    headers: list[tuple[str, str | Header]] = [
        ("From", formataddr((header_safe(sender.display_name), sender.address), charset="utf-8")),
        ("To", to),
        ("Subject", _subject(header_safe(subject))),
        ("Date", _date(now)),
        ("Message-ID", msg_id),
    ]
    unsubscribe = _unsubscribe_header(template, {**variables, "email": recipient}, token)
    if unsubscribe:
        headers.append(("List-Unsubscribe", unsubscribe))
        if template.unsubscribe_url and template.one_click:
            # RFC 8058 one-click: only meaningful with an HTTPS link.
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    return _Parts(headers, text, html_body)


def build_message(
    template: Template,
    sender: Sender,
    recipient: str,
    variables: Mapping[str, object],
    msg_id: str,
    now: datetime,
    boundary: str | None = None,
    token: str | None = None,
) -> Message:
    """The full message for one job. Raises InvalidRecipient for an unusable address, TemplateError
    for a value the template needs and the recipient lacks."""
    parts = _parts(template, sender, recipient, variables, msg_id, now, token)
    return _assemble(parts, boundary)


def _assemble(parts: _Parts, boundary: str | None) -> Message:
    text = text_part(parts.text, "plain")
    msg: Message
    if parts.html is not None:
        msg = MIMEMultipart("alternative", boundary=boundary or new_boundary())
        msg.attach(text)
        msg.attach(text_part(parts.html, "html"))
    else:
        msg = text
    for name, value in parts.headers:
        msg[name] = value  # type: ignore[assignment]  # compat32 takes a Header as a value
    return msg


def message_bytes(msg: Message) -> bytes:
    """The message as sent: CRLF line ends, headers folded and checked by the generator."""
    return msg.as_bytes(policy=WIRE_POLICY)


def render_message(
    template: Template,
    sender: Sender,
    recipient: str,
    variables: Mapping[str, object],
    msg_id: str,
    now: datetime,
    boundary: str | None = None,
    token: str | None = None,
) -> bytes:
    """`message_bytes(build_message(...))` without the Message objects and the generator's walk.

    Each header is folded by the same WIRE_POLICY.fold_binary the generator calls (its fast path, or
    compat32's folding and its refusal of an embedded header), the bodies are encoded as text_part
    encodes them, and the MIME structure is written as the generator writes it. Raises InvalidRecipient
    for an unusable address, TemplateError for a value the template needs and the recipient lacks.
    """
    parts = _parts(template, sender, recipient, variables, msg_id, now, token)
    if parts.html is not None:
        boundary = boundary or new_boundary()
        top = [("Content-Type", f'multipart/alternative; boundary="{boundary}"'), ("MIME-Version", "1.0")]
    else:
        top = [("Content-Type", 'text/plain; charset="utf-8"'), *_PART_HEADERS]
    fold = WIRE_POLICY.fold_binary
    out = [fold(name, value) for name, value in top]
    out.extend(fold(name, value) for name, value in parts.headers)
    out.append(b"\r\n")
    if parts.html is None:
        out.append(_encoded_body(parts.text))
    else:
        out.append(f"--{boundary}\r\n".encode("ascii"))
        out.append(_encoded_part(parts.text, "plain"))
        out.append(f"\r\n--{boundary}\r\n".encode("ascii"))
        out.append(_encoded_part(parts.html, "html"))
        out.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
    return b"".join(out)


def _encoded_body(body: str) -> bytes:
    return _NEWLINES.sub("\r\n", _QP_CHARSET.body_encode(body)).encode("ascii")


def _encoded_part(body: str, subtype: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii") + _encoded_body(body)
