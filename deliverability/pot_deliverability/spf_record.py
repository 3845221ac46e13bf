"""SPF record syntax exactly as RFC 7208 §4.5, §4.6 and §7.1 write it: find the record, parse its terms.

Used by spf.check_host, which evaluates what this parses. Any syntax error anywhere in a record makes
the whole record a permerror (§4.6), so `parse_record` checks every term, the ones evaluation would
never reach included.
"""

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
MACRO_LETTERS = "slodiphcrtv"
EXPLANATION_ONLY_LETTERS = "crt"  # §7.2: only in exp= text
DELIMITERS = ".-+,/_="


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


@dataclass(frozen=True)
class Macro:
    """One macro-expand of §7.1: `%{letter digits r delimiters}`, or the escapes %%, %_ and %-."""

    letter: str  # as written: upper case asks for URL escaping
    digits: int | None = None  # None: all parts
    reverse: bool = False
    delimiters: str = ""


Token = str | Macro  # a run of macro-literal characters, or a macro

# §7.1: macro-expand = ( "%{" macro-letter transformers *delimiter "}" ) / "%%" / "%_" / "%-"
_MACRO = re.compile(r"%\{([a-zA-Z])([0-9]*)([rR]?)([.\-+,/_=]*)\}")
_LITERAL = re.compile(r"[\x21-\x24\x26-\x7e]+")  # macro-literal: visible ASCII except "%"
_ESCAPES = {"%%": "%", "%_": " ", "%-": "%20"}
# §7.1: toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
_TOPLABEL = re.compile(r"[a-zA-Z0-9]*[a-zA-Z][a-zA-Z0-9]*|[a-zA-Z0-9]+-[a-zA-Z0-9\-]*[a-zA-Z0-9]")
# §4.6.1: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ), then "=" makes the term a modifier
_MODIFIER = re.compile(r"([a-zA-Z][a-zA-Z0-9\-_.]*)=(.*)", re.DOTALL)
_MECHANISM_NAME = re.compile(r"[a-zA-Z0-9]+")
# §4.6.1: qnum = DIGIT / %x31-39 DIGIT / "1" 2DIGIT / "2" %x30-34 DIGIT / "25" %x30-35
_QNUM = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])"
_IP4_NETWORK = re.compile(rf"{_QNUM}(?:\.{_QNUM}){{3}}")
# ip4-cidr-length = "/" ("0" / %x31-39 0*1DIGIT); ip6-cidr-length = "/" ("0" / %x31-39 0*2DIGIT)
_CIDR4 = r"(?:0|[1-9][0-9]?)"
_CIDR6 = r"(?:0|[1-9][0-9]{0,2})"
_DUAL_CIDR = re.compile(rf"(?:/({_CIDR4}))?(?://({_CIDR6}))?\Z")


def find_spf_record(texts: tuple[str, ...]) -> str | None:
    """The single record whose version section is `v=spf1` (ended by a space or the end of the record);
    more than one is a permerror (§4.5). The version is matched without regard to case (ABNF strings)."""
    records = [t for t in texts if t[:6].lower() == "v=spf1" and (len(t) == 6 or t[6] == " ")]
    if len(records) > 1:
        raise PermError(f"{len(records)} SPF records published")
    return records[0] if records else None


def parse_record(record: str) -> list[Term]:
    """Every term of a record (§4.6.1: `record = version terms *SP`, terms separated by spaces only)."""
    terms: list[Term] = []
    for text in record[6:].split(" "):
        if not text:
            continue  # several spaces in a row, or trailing ones (*SP)
        term = parse_term(text)
        once = term.modifier and term.name in ("redirect", "exp")
        if once and any(t.modifier and t.name == term.name for t in terms):
            raise PermError(f"{term.name}= appears twice (RFC 7208 §6)")
        terms.append(term)
    return terms


def parse_term(text: str) -> Term:
    """One directive or modifier; PermError says what is wrong with it."""
    bad = next((c for c in text if not "\x21" <= c <= "\x7e"), None)
    if bad is not None:
        raise PermError(f"term {_show(text)} holds {bad!r}, which no SPF term may")
    modifier = _MODIFIER.fullmatch(text)
    if modifier:
        name, value = modifier.group(1).lower(), modifier.group(2)
        if name in ("redirect", "exp"):
            check_domain_spec(value, text)
        else:  # unknown-modifier = name "=" macro-string: ignored, but its syntax still counts
            tokenize(value, text)
        return Term(text, name, argument=value, modifier=True)
    body = text
    qualifier = SpfResult.PASS
    if body[0] in QUALIFIERS:
        qualifier, body = QUALIFIERS[body[0]], body[1:]
    m = _MECHANISM_NAME.match(body)
    name = m.group(0).lower() if m else ""
    if name not in MECHANISMS:
        raise PermError(f"unknown mechanism in {_show(text)}")
    rest = body[len(name) :]
    if name == "all":
        if rest:
            raise PermError(f"'all' takes no argument: {_show(text)}")
        return Term(text, name, qualifier)
    if name in ("ip4", "ip6"):
        address, cidr4, cidr6 = _ip_network(name, rest, text)
        return Term(text, name, qualifier, address, cidr4, cidr6)
    if name in ("include", "exists"):
        if not rest.startswith(":"):
            raise PermError(f"{name} needs ':' and a domain: {_show(text)}")
        check_domain_spec(rest[1:], text)
        return Term(text, name, qualifier, rest[1:])
    if name == "ptr":
        if rest and not rest.startswith(":"):
            raise PermError(f"ptr takes only ':domain': {_show(text)}")
        if rest:
            check_domain_spec(rest[1:], text)
        return Term(text, name, qualifier, rest[1:] or None)
    # a and mx: [ ":" domain-spec ] [ dual-cidr-length ]
    cidr = _DUAL_CIDR.search(rest)
    assert cidr is not None  # every part of the pattern is optional
    spec, c4, c6 = rest[: cidr.start()], cidr.group(1), cidr.group(2)
    if spec and not spec.startswith(":"):
        raise PermError(f"{name} takes ':domain' and CIDR lengths only: {_show(text)}")
    if spec:
        check_domain_spec(spec[1:], text)
    cidr4, cidr6 = _cidr(c4, 32, text), _cidr(c6, 128, text)
    return Term(text, name, qualifier, spec[1:] or None, cidr4, cidr6)


def _ip_network(name: str, rest: str, text: str) -> tuple[str, int | None, int | None]:
    """§5.6: ip4 = "ip4" ":" ip4-network [ ip4-cidr-length ], ip6 likewise with RFC 4291 §2.2 text."""
    if not rest.startswith(":") or len(rest) == 1:
        raise PermError(f"{name} needs ':' and an address: {_show(text)}")
    address, slash, length = rest[1:].partition("/")
    if name == "ip4":
        if not _IP4_NETWORK.fullmatch(address):
            raise PermError(f"{address!r} is not an IPv4 address as ip4 needs it: {_show(text)}")
        if slash and not re.fullmatch(_CIDR4, length):
            raise PermError(f"bad ip4 CIDR length in {_show(text)}")
        return address, _cidr(length or None, 32, text), None
    try:
        if "%" in address:  # a scope zone is no part of RFC 4291 §2.2 text
            raise ValueError(address)
        ipaddress.IPv6Address(address)
    except ValueError:
        raise PermError(f"{address!r} is not an IPv6 address as ip6 needs it: {_show(text)}") from None
    if slash and not re.fullmatch(_CIDR6, length):
        raise PermError(f"bad ip6 CIDR length in {_show(text)}")
    return address, None, _cidr(length or None, 128, text)


def _cidr(digits: str | None, most: int, text: str) -> int | None:
    if digits is None:
        return None
    if int(digits) > most:
        raise PermError(f"CIDR length {digits} is over {most} in {_show(text)}")
    return int(digits)


def tokenize(spec: str, text: str, *, explanation: bool = False) -> list[Token]:
    """§7.1 macro-string (or explain-string, which may also hold spaces) as literal runs and macros."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(spec):
        char = spec[pos]
        if char == "%":
            escape = spec[pos : pos + 2]
            if escape in _ESCAPES:
                tokens.append(Macro(escape[1]))
                pos += 2
                continue
            m = _MACRO.match(spec, pos)
            if m is None:
                raise PermError(f"bad macro at {_show(spec[pos : pos + 20])} in {_show(text)}")
            letter, digits, reverse, delimiters = m.groups()
            if letter.lower() not in MACRO_LETTERS:
                raise PermError(f"unknown macro letter %{{{letter}}} in {_show(text)}")
            if letter.lower() in EXPLANATION_ONLY_LETTERS and not explanation:
                raise PermError(f"macro %{{{letter}}} is only allowed in explanations: {_show(text)}")
            if digits and int(digits) == 0:
                raise PermError(f"macro digit transformer of zero in {_show(text)}")
            tokens.append(Macro(letter, int(digits) if digits else None, bool(reverse), delimiters))
            pos = m.end()
            continue
        if explanation and char == " ":
            tokens.append(" ")
            pos += 1
            continue
        m = _LITERAL.match(spec, pos)
        if m is None:
            raise PermError(f"{char!r} may not appear in {_show(text)}")
        tokens.append(m.group(0))
        pos = m.end()
    return tokens


def check_domain_spec(spec: str, text: str) -> list[Token]:
    """§7.1: domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand."""
    tokens = tokenize(spec, text)
    if not tokens:
        raise PermError(f"empty domain in {_show(text)}")
    if isinstance(tokens[-1], Macro):
        return tokens
    tail = tokens[-1]
    if tail.endswith("."):
        tail = tail[:-1]
    dot = tail.rfind(".")
    if dot < 0 or not _TOPLABEL.fullmatch(tail[dot + 1 :]):
        last = tail[dot + 1 :] if dot >= 0 else tail
        why = "no '.' before its last label" if dot < 0 else f"last label {last!r} is not a top label"
        raise PermError(f"domain {_show(spec)} ends badly ({why}) in {_show(text)}")
    return tokens


def _show(text: str) -> str:
    """A term for an error message: quoted, and cut short when a hostile record makes it huge."""
    return repr(text if len(text) <= 80 else text[:77] + "...")
