"""What a request says, decided without I/O: the token it carries and its tenant, whether its body is an
RFC 8058 one-click, and which client sent it. Called by pot_unsubscribe.app; every function is pure.

Nothing here trusts the token: `claimed_tenant` only reads which tenant's key to verify it with
(pot_common.unsubscribe.verify_token decides), and refuses a tenant that is no namespace name, so a
forged payload cannot steer the Vault read to another path.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import parse_qsl

from pot_unsubscribe.config import Network

# A token is at most a namespace (63), a campaign name (253) and an address (254) with two NULs, in
# base64url, a dot and a 43-character MAC: about 810 characters. Anything longer is not ours.
MAX_TOKEN_CHARS = 1024
_TOKEN = re.compile(r"[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{43}")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"


class BadRequest(ValueError):
    """The request is not one this endpoint understands; the message is safe to show."""


def claimed_tenant(token: str) -> str | None:
    """The tenant an (unverified) token names, or None when it cannot be one of ours."""
    if len(token) > MAX_TOKEN_CHARS or not _TOKEN.fullmatch(token):
        return None
    head = token.partition(".")[0]
    try:
        payload = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
        fields = payload.decode("utf-8").split("\x00")
    except (binascii.Error, ValueError):
        return None
    if len(fields) != 3 or not _NAMESPACE.fullmatch(fields[0]):
        return None
    return fields[0]


def one_click(content_type: str, body: bytes) -> bool:
    """Whether the body carries `List-Unsubscribe=One-Click` (RFC 8058 §3.2), form-encoded or multipart.

    BadRequest for a body that is neither, or not UTF-8.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded" or (not media and body):
        try:
            text = body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=32)
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("the form is not valid UTF-8 form encoding") from None
        return any(_is_one_click(k, v) for k, v in pairs)
    if media == "multipart/form-data":
        return any(_is_one_click(k, v) for k, v in _multipart_fields(content_type, body))
    if not media and not body:
        return False
    raise BadRequest("send the form as application/x-www-form-urlencoded or multipart/form-data")


def _is_one_click(name: str, value: str) -> bool:
    return (name.strip().lower(), value.strip().lower()) == (ONE_CLICK_FIELD.lower(), ONE_CLICK_VALUE.lower())


def _multipart_fields(content_type: str, body: bytes) -> list[tuple[str, str]]:
    if "\r" in content_type or "\n" in content_type:
        raise BadRequest("bad Content-Type")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise BadRequest("the multipart form is malformed")
    fields = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        raw = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(raw, bytes):
            continue
        try:
            fields.append((name, raw.decode("utf-8")))
        except UnicodeDecodeError:
            raise BadRequest("the form is not valid UTF-8") from None
    return fields


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client the rate limit counts: the peer, or, when the peer is a trusted proxy, the nearest
    address in X-Forwarded-For that is not one (each proxy appends the address it saw)."""
    address = peer or "unknown"
    if not trusted or not forwarded_for or not _trusted(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # a hop we cannot read: count the proxy, never a made-up name
        if not _trusted(hop, trusted):
            return hop
        address = hop
    return address


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
