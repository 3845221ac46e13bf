"""SPF record syntax (RFC 7208 §4.5, §4.6, §7.1): find one record and parse its terms; for spf.check_host."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum


class SpfResult(StrEnum):
    """The seven results of RFC 7208 §2.6."""

    PASS = "pass"  # noqa: S105 - an SPF result, not a password
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"


QUALIFIERS = {"+": SpfResult.PASS, "-": SpfResult.FAIL, "~": SpfResult.SOFTFAIL, "?": SpfResult.NEUTRAL}
MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}


class PermError(Exception):
    """The record (or what it leads to) is broken: check_host's result is permerror."""


@dataclass(frozen=True)
class Term:
    """One parsed directive or modifier of a record."""

    text: str
    name: str
    qualifier: SpfResult = SpfResult.PASS
    argument: str | None = None  # the domain-spec (still with macros) or the address
    cidr4: int | None = None
    cidr6: int | None = None
    modifier: bool = False


_MECH_RE = re.compile(r"^([+\-~?]?)([a-z0-9]+)(?::(.*?))?(?:/(\d+))?(?://(\d+))?$", re.IGNORECASE)
_MOD_RE = re.compile(r"^([a-z][a-z0-9_.\-]*)=(.*)$", re.IGNORECASE)


def find_spf_record(texts: tuple[str, ...]) -> str | None:
    """The single `v=spf1` record among a name's TXT records; more than one is a permerror (§4.5)."""
    records = [t for t in texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]
    if len(records) > 1:
        raise PermError(f"{len(records)} SPF records published")
    return records[0] if records else None


def parse_record(record: str) -> list[Term]:
    """Split a record into terms; any syntax error makes the whole record a permerror (§4.6)."""
    terms: list[Term] = []
    for text in record.split()[1:]:
        mod = _MOD_RE.match(text)
        if mod and ":" not in mod.group(1):
            name = mod.group(1).lower()
            if name in ("redirect", "exp") and any(t.modifier and t.name == name for t in terms):
                raise PermError(f"{name}= appears twice")
            if name in ("redirect", "exp") and not mod.group(2):
                raise PermError(f"{name}= needs a domain")
            check_macros(mod.group(2), text)
            terms.append(Term(text, name, argument=mod.group(2), modifier=True))
            continue
        m = _MECH_RE.match(text)
        if not m:
            raise PermError(f"syntax error in term {text!r}")
        qualifier, name, arg, c4, c6 = m.groups()
        name = name.lower()
        if name not in MECHANISMS:
            raise PermError(f"unknown mechanism {text!r}")
        cidr4 = int(c4) if c4 is not None else None
        cidr6 = int(c6) if c6 is not None else None
        if name in ("ip4", "ip6"):
            arg, cidr4, cidr6 = _parse_ip_term(name, text)
        elif name == "all" and (arg is not None or cidr4 is not None or cidr6 is not None):
            raise PermError(f"'all' takes no argument: {text!r}")
        elif name in ("include", "exists") and (not arg or cidr4 is not None or cidr6 is not None):
            raise PermError(f"{name} needs a domain and no CIDR: {text!r}")
        elif name == "ptr" and (cidr4 is not None or cidr6 is not None):
            raise PermError(f"ptr takes no CIDR: {text!r}")
        if arg is not None:
            if arg == "":
                raise PermError(f"empty domain in {text!r}")
            check_macros(arg, text)
        if (cidr4 is not None and cidr4 > 32) or (cidr6 is not None and cidr6 > 128):
            raise PermError(f"CIDR length out of range in {text!r}")
        terms.append(Term(text, name, QUALIFIERS.get(qualifier or "+", SpfResult.PASS), arg, cidr4, cidr6))
    return terms


def _parse_ip_term(name: str, text: str) -> tuple[str, int | None, int | None]:
    body = text.lstrip("+-~?")[len(name) + 1 :]
    if not text.lstrip("+-~?")[len(name) :].startswith(":") or not body:
        raise PermError(f"{name} needs an address: {text!r}")
    address, _, prefix = body.partition("/")
    try:
        parsed = ipaddress.ip_address(address)
        length = int(prefix) if prefix else None
    except ValueError:
        raise PermError(f"bad address in {text!r}") from None
    if name == "ip4":
        leading_zero = bool(prefix) and prefix[0] == "0" and prefix != "0"
        if parsed.version != 4 or (length is not None and not 0 <= length <= 32) or leading_zero:
            raise PermError(f"bad ip4 term {text!r}")
        return address, length, None
    if parsed.version != 6 or (length is not None and not 0 <= length <= 128):
        raise PermError(f"bad ip6 term {text!r}")
    return address, None, length


MACRO_RE = re.compile(r"%(?:\{([a-zA-Z])(\d*)(r?)([.\-+,/_=]*)\}|(.))")


def check_macros(spec: str, text: str) -> None:
    for m in MACRO_RE.finditer(spec):
        if m.group(5) is not None and m.group(5) not in "%_-":
            raise PermError(f"bad macro in {text!r}")
        if m.group(1) is not None and m.group(1).lower() not in "slodiphcrtv":
            raise PermError(f"unknown macro letter in {text!r}")
    if spec.count("%") != len(MACRO_RE.findall(spec)):
        raise PermError(f"bad macro in {text!r}")
