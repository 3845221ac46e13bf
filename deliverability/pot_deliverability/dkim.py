"""DKIM key records exactly as RFC 6376 §3.2 and §3.6.1 define them (with RFC 8463 Ed25519 and RFC 8301's
key sizes and hashes): lookup, parsing and grading; used by preflight.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from pot_deliverability.dns import Resolver

WARN_BELOW_BITS = 2048
FAIL_BELOW_BITS = 1024
KNOWN_HASHES = ("sha1", "sha256")
USABLE_HASHES = ("sha256",)  # RFC 8301 §3.1: verifiers must not accept sha1 signatures

# §3.2: tag-name = ALPHA *ALNUMPUNC; a value is VALCHARs (%x21-3A / %x3C-7E) with whitespace inside.
_TAG_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*")
_VALUE_CHARS = re.compile(r"[\x21-\x3a\x3c-\x7e \t\r\n]*")
_FWS = re.compile(r"\r\n(?=[ \t])|[ \t]")  # folding or plain white space
# §3.6.1: base64string = ALPHADIGITPS *([FWS] ALPHADIGITPS) [ [FWS] "=" [ [FWS] "=" ] ]
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
# RFC 6376 §3.1: selector = sub-domain *( "." sub-domain ), sub-domain as RFC 5321 has it
SELECTOR = re.compile(
    r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)*"
)


class DkimParseError(ValueError):
    """The record is not a usable DKIM key record; the message says why."""


def parse_tags(record: str) -> dict[str, str]:
    """A §3.2 tag-list into a dict, whitespace around values dropped (inside base64 it goes too, later).

    Names are case-sensitive; a name given twice, an empty tag-spec, or a character no tag-value may hold
    makes the whole list invalid.
    """
    tags: dict[str, str] = {}
    parts = record.split(";")
    if parts and not parts[-1].strip(" \t\r\n"):
        parts.pop()  # tag-list = tag-spec *( ";" tag-spec ) [ ";" ]
    for part in parts:
        name, sep, value = part.partition("=")
        name = name.strip(" \t\r\n")
        if not sep:
            raise DkimParseError(
                f"tag without '=': {part.strip()[:60]!r}" if part.strip() else "empty tag between ';'"
            )
        if not _TAG_NAME.fullmatch(name):
            raise DkimParseError(f"{name[:40]!r} is not a tag name")
        if not _VALUE_CHARS.fullmatch(value):
            bad = next(c for c in value if not _VALUE_CHARS.fullmatch(c))
            raise DkimParseError(f"tag {name}= holds {bad!r}, which no tag value may")
        if name in tags:
            raise DkimParseError(f"tag {name!r} appears twice")
        tags[name] = value.strip(" \t\r\n")
    return tags


def _list(value: str) -> tuple[str, ...]:
    """A ':'-separated list with optional FWS around the items (h=, s=, t=)."""
    return tuple(_FWS.sub("", item).lower() for item in value.split(":"))


@dataclass(frozen=True)
class DkimKey:
    """A parsed key record; `bits` is the RSA modulus size (256 for Ed25519)."""

    selector: str
    domain: str
    key_type: str
    bits: int
    revoked: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    hashes: tuple[str, ...] = KNOWN_HASHES  # h=, the known ones only ("unrecognized MUST be ignored")
    testing: bool = False  # t=y
    strict: bool = False  # t=s: no subdomain of d= in i=


def parse_key_record(record: str, *, selector: str = "", domain: str = "") -> DkimKey:
    """A §3.6.1 key record; DkimParseError when a verifier would have to discard or ignore it."""
    tags = parse_tags(record)
    if "v" in tags and (next(iter(tags)) != "v" or tags["v"] != "DKIM1"):
        raise DkimParseError(
            f"v={tags['v'][:20]} is not DKIM1" if tags["v"] != "DKIM1" else "v= must be the first tag"
        )
    if "p" not in tags:
        raise DkimParseError("no p= (public key) tag")
    key_type = tags.get("k", "rsa").lower()
    services = _list(tags.get("s", "*"))
    if not {"*", "email"} & set(services):
        raise DkimParseError(f"s={tags['s'][:40]} does not include email or *: the key is not for mail")
    flags = _list(tags.get("t", ""))
    hashes = tuple(h for h in _list(tags.get("h", ":".join(KNOWN_HASHES))) if h in KNOWN_HASHES)
    if not hashes:
        raise DkimParseError(f"h={tags['h'][:40]} names no hash algorithm verifiers know")

    def key(kind: str, bits: int, revoked: bool = False) -> DkimKey:
        return DkimKey(selector, domain, kind, bits, revoked, tags, hashes, "y" in flags, "s" in flags)

    data = _FWS.sub("", tags["p"])
    if data == "":
        return key(key_type, 0, revoked=True)
    if not _BASE64.fullmatch(data):
        raise DkimParseError("p= is not valid base64")
    try:
        der = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise DkimParseError("p= is not valid base64") from None
    if key_type == "ed25519":
        if len(der) != 32:
            raise DkimParseError(f"an Ed25519 key is 32 bytes, this one {len(der)}")
        ed25519.Ed25519PublicKey.from_public_bytes(der)
        return key(key_type, 256)
    if key_type != "rsa":
        raise DkimParseError(f"unknown key type k={key_type[:20]}")
    try:
        public = load_der_public_key(der)
    except ValueError:
        raise DkimParseError("p= is not a DER-encoded public key") from None
    if not isinstance(public, rsa.RSAPublicKey):
        raise DkimParseError("k=rsa but p= holds another kind of key")
    return key(key_type, public.key_size)


async def find_key(domain: str, selectors: tuple[str, ...], resolver: Resolver) -> tuple[DkimKey | None, str]:
    """The first selector with a DKIM record, or None with what was tried. Parse errors propagate."""
    for selector in selectors:
        name = f"{selector}._domainkey.{domain}"
        answer = await resolver.lookup(name, "TXT")
        records = [r for r in answer.records if "p=" in r or r.lstrip().startswith("v=")]
        if len(records) > 1:
            raise DkimParseError(f"{name} has {len(records)} key records")
        if records:
            return parse_key_record(records[0], selector=selector, domain=domain), name
    return None, ", ".join(f"{s}._domainkey.{domain}" for s in selectors)
