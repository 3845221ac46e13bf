"""potctl's input checks, pure: each returns the value as the command uses it or raises BadInput with a
sentence naming the input and what is wrong with it. Every command module calls these before doing
anything, so no input reaches a library as something it would choke on.
"""

from __future__ import annotations

import ipaddress
import math
import re

from pot_common.addresses import MAX_ADDRESS, check_syntax
from pot_deliverability.dkim import SELECTOR
from pot_deliverability.dns import domain_name, parse_resolver_address
from pot_deliverability.dnsbl import DnsblZone, parse_zones

MAX_TEXT = 1000  # free text stored in a row (a suppression's source)
MAX_NAME = 253  # tenant and list names
MAX_PAUSE_REASON = 256  # spec.pauseReason's maxLength in the CRDs
_DNS_1123_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_KUBE_NAME = re.compile(rf"{_DNS_1123_LABEL}(?:\.{_DNS_1123_LABEL})*")
_KUBE_NAMESPACE = re.compile(_DNS_1123_LABEL)


class BadInput(ValueError):
    """An input potctl will not use; the message names it and says why."""


def shown(value: str, limit: int = 60) -> str:
    """A value quoted for a one-line message: control characters escaped, a long one cut short."""
    text = value if len(value) <= limit else value[: limit - 3] + "..."
    return repr(text)


def domain(value: str, what: str = "domain") -> str:
    """A domain name as DNS takes it (lower case, A-labels, no final dot)."""
    try:
        return domain_name(value)
    except ValueError as exc:
        raise BadInput(f"{what} {shown(value)}: it {exc}") from None


def host(value: str, what: str) -> str:
    """An IP address, or a host name (one label allowed)."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    try:
        return domain_name(value, multi_label=False)
    except ValueError as exc:
        raise BadInput(f"{what} {shown(value)}: not an IP address, and as a host name it {exc}") from None


def ip(value: str, what: str = "--ip") -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise BadInput(f"{what} {shown(value)}: not an IPv4 or IPv6 address") from None


def selectors(values: list[str]) -> tuple[str, ...]:
    """DKIM selectors (RFC 6376 §3.1: dot-separated sub-domains)."""
    for value in values:
        if not SELECTOR.fullmatch(value) or len(value) > 63:
            raise BadInput(f"--dkim-selector {shown(value)}: not a selector (letters, digits, '-', '.')")
    return tuple(v.lower() for v in values)


def resolver(value: str | None) -> str | None:
    """A DNS server address in a form make_resolver takes, checked before any lookup."""
    if value is None or not value.strip():
        return None
    try:
        parse_resolver_address(value)
    except ValueError as exc:
        raise BadInput(f"--resolver {shown(value)}: {exc}") from None
    return value


def blocklists(spec: str) -> list[DnsblZone]:
    """`zen.example,domain:dbl.example`: every zone a domain name."""
    zones = parse_zones(spec)
    for zone in zones:
        try:
            domain_name(zone.zone, multi_label=False)
        except ValueError as exc:
            raise BadInput(f"--blocklists zone {shown(zone.zone)}: it {exc}") from None
    return zones


def choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise BadInput(f"{what} {shown(value)}: must be {', '.join(choices[:-1])} or {choices[-1]}")
    return value


def at_least(value: int, least: int, what: str) -> int:
    if value < least:
        raise BadInput(f"{what} {value}: must be at least {least}")
    return value


def seconds(value: float, what: str) -> float:
    if not math.isfinite(value) or value < 0 or value > 86400:
        raise BadInput(f"{what} {value}: must be a number of seconds from 0 to 86400")
    return value


def port(value: int, what: str = "--probe-port") -> int:
    if not 0 < value < 65536:
        raise BadInput(f"{what} {value}: must be a port from 1 to 65535")
    return value


def text(value: str, what: str, *, most: int = MAX_TEXT, empty: bool = False) -> str:
    """Free text stored as it is: printable, on one line, not over `most` characters."""
    if not value and not empty:
        raise BadInput(f"{what} is empty")
    if len(value) > most:
        raise BadInput(f"{what} {shown(value)}: {len(value)} characters, at most {most}")
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        raise BadInput(f"{what} {shown(value)}: holds {bad!r}, which is not printable")
    return value


def name(value: str, what: str) -> str:
    """A tenant or list name: printable text without surrounding spaces."""
    text(value, what, most=MAX_NAME)
    if value != value.strip():
        raise BadInput(f"{what} {shown(value)}: starts or ends with white space")
    return value


def address(value: str, what: str = "address") -> str:
    """An email address as the suppression and feedback tables keep it: normalised and lower case.

    Special-use domains (.test) are accepted: suppressing an address never sends anything.
    """
    if len(value) > 4 * MAX_ADDRESS:
        raise BadInput(f"{what} {shown(value)}: {len(value)} characters, not an address")
    syntax = check_syntax(value, allow_test_domains=True)
    if not syntax.ok:
        raise BadInput(f"{what} {shown(value)}: {syntax.reason}")
    return syntax.normalized.lower()


def campaign(value: str) -> tuple[str, str]:
    """`namespace/name` of a Campaign."""
    namespace, slash, name_ = value.partition("/")
    if not slash or not _KUBE_NAMESPACE.fullmatch(namespace) or not _KUBE_NAME.fullmatch(name_):
        raise BadInput(f"--campaign {shown(value)}: must be NAMESPACE/NAME of a Campaign")
    return namespace, name_


def kube_name(value: str, what: str = "NAME") -> str:
    """An object name (RFC 1123 subdomain: lower case letters, digits, '-', '.', at most 253)."""
    if len(value) > 253 or not _KUBE_NAME.fullmatch(value):
        raise BadInput(f"{what} {shown(value)}: not a Kubernetes object name (lower case a-z, 0-9, '-', '.')")
    return value


def kube_namespace(value: str | None) -> str | None:
    if value is not None and not _KUBE_NAMESPACE.fullmatch(value):
        raise BadInput(
            f"--namespace {shown(value)}: not a namespace name (lower case a-z, 0-9, '-', at most 63)"
        )
    return value


def pause_reason(value: str | None) -> str | None:
    if value is None:
        return None
    return text(value, "--reason", most=MAX_PAUSE_REASON, empty=True)
