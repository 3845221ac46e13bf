"""DKIM key record lookup and parsing (RFC 6376 §3.6.1), with key-size grading; used by preflight."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from pot_deliverability.dns import Resolver

WARN_BELOW_BITS = 2048
FAIL_BELOW_BITS = 1024


class DkimParseError(ValueError):
    """The record is not a usable DKIM key record; the message says why."""


def parse_tags(record: str) -> dict[str, str]:
    """`tag=value; tag=value` (RFC 6376 §3.2) into a dict; whitespace inside values is dropped."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise DkimParseError(f"tag without '=': {part.strip()!r}")
        name = name.strip()
        if name in tags:
            raise DkimParseError(f"tag {name!r} appears twice")
        tags[name] = "".join(value.split())
    return tags


@dataclass(frozen=True)
class DkimKey:
    """A parsed key record; `bits` is the RSA modulus size (256 for Ed25519)."""

    selector: str
    domain: str
    key_type: str
    bits: int
    revoked: bool = False
    tags: dict[str, str] = field(default_factory=dict)


def parse_key_record(record: str, *, selector: str = "", domain: str = "") -> DkimKey:
    tags = parse_tags(record)
    if tags.get("v", "DKIM1") != "DKIM1":
        raise DkimParseError(f"v={tags['v']} is not DKIM1")
    if "p" not in tags:
        raise DkimParseError("no p= (public key) tag")
    key_type = tags.get("k", "rsa").lower()
    if tags["p"] == "":
        return DkimKey(selector, domain, key_type, 0, revoked=True, tags=tags)
    try:
        der = base64.b64decode(tags["p"], validate=True)
    except (binascii.Error, ValueError):
        raise DkimParseError("p= is not valid base64") from None
    if key_type == "ed25519":
        if len(der) != 32:
            raise DkimParseError(f"an Ed25519 key is 32 bytes, this one {len(der)}")
        ed25519.Ed25519PublicKey.from_public_bytes(der)
        return DkimKey(selector, domain, key_type, 256, tags=tags)
    if key_type != "rsa":
        raise DkimParseError(f"unknown key type k={key_type}")
    try:
        key = load_der_public_key(der)
    except ValueError:
        raise DkimParseError("p= is not a DER-encoded public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise DkimParseError("k=rsa but p= holds another kind of key")
    return DkimKey(selector, domain, key_type, key.key_size, tags=tags)


async def find_key(domain: str, selectors: tuple[str, ...], resolver: Resolver) -> tuple[DkimKey | None, str]:
    """The first selector with a DKIM record, or None with what was tried. Parse errors propagate."""
    for selector in selectors:
        name = f"{selector}._domainkey.{domain}"
        answer = await resolver.lookup(name, "TXT")
        records = [r for r in answer.records if "p=" in r]
        if len(records) > 1:
            raise DkimParseError(f"{name} has {len(records)} key records")
        if records:
            return parse_key_record(records[0], selector=selector, domain=domain), name
    return None, ", ".join(f"{s}._domainkey.{domain}" for s in selectors)
