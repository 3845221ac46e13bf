"""DNS for POT: the one resolver factory (POT_DNS_RESOLVER) and the lookups every check module here makes.

`make_resolver`/`resolver_from_env` are what the operator, potctl and the worker build resolvers with;
`DnsResolver.lookup` gives the checks records as text.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdata
import dns.rdatatype
import dns.resolver
import dns.reversename
import idna


class Status(StrEnum):
    """How a query ended, in the words RFC 7208 uses for void lookups."""

    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"


class DnsTemporaryError(Exception):
    """A lookup timed out or the server failed (SERVFAIL/REFUSED): the answer is unknown, retry later."""


@dataclass(frozen=True)
class Answer:
    """One query's records as text: TXT strings joined, MX as `pref host`, names without the final dot."""

    status: Status
    records: tuple[str, ...] = ()

    @property
    def void(self) -> bool:
        return self.status is not Status.OK or not self.records


class Resolver(Protocol):
    """What the checks need from DNS; `DnsResolver` is the real one, tests may answer from zone files."""

    async def lookup(self, name: str, rdtype: str) -> Answer: ...


MAX_NAME = 253  # a name in text form without the final dot: 255 octets on the wire (RFC 1035 §3.1)
MAX_LABEL = 63


def domain_name(name: str, *, multi_label: bool = True) -> str:
    """`name` as DNS knows it: lower case, A-labels, no final dot; ValueError says what is wrong with it
    (a phrase to follow "it": "has an empty label").

    The checks here accept what RFC 1035/1123 host names are made of (letters, digits, hyphens, and the
    underscores of SPF and DKIM names), IDNs as U-labels (IDNA 2008) or A-labels, labels of 1-63 octets
    and at most 253 octets in all; `multi_label` refuses a bare label such as `localhost` (RFC 7208 §4.3).
    """
    text = name[:-1] if name.endswith(".") else name
    if not text:
        raise ValueError("is empty" if not name else "is the root, not a domain")
    if len(text) > 4 * MAX_NAME:  # no use encoding a megabyte to say it is too long
        raise ValueError(f"is longer than {MAX_NAME} characters")
    if not text.isascii():
        try:
            text = idna.encode(text, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(f"is not a valid internationalised name ({exc})") from None
    labels = text.split(".")
    for label in labels:
        if not label:
            raise ValueError("has an empty label")
        if len(label) > MAX_LABEL:
            raise ValueError(f"has a label longer than {MAX_LABEL} characters")
        if not all(c.isalnum() or c in "-_" for c in label):
            bad = next(c for c in label if not (c.isalnum() or c in "-_"))
            raise ValueError(f"has a character a host name cannot hold: {bad!r}")
    if len(text) > MAX_NAME:
        raise ValueError(f"is longer than {MAX_NAME} characters")
    if multi_label and len(labels) < 2:
        raise ValueError("is a single label, not a domain")
    return text.lower()


def rdata_text(rdata: dns.rdata.Rdata) -> str:
    """One record as the checks compare it: TXT strings concatenated (RFC 7208 §3.3), names lower-case."""
    if rdata.rdtype == dns.rdatatype.TXT:
        strings: tuple[bytes, ...] = rdata.strings  # type: ignore[attr-defined]
        return b"".join(strings).decode("utf-8", errors="replace")
    if rdata.rdtype == dns.rdatatype.MX:
        exchange = rdata.exchange.to_text(omit_final_dot=True).lower()  # type: ignore[attr-defined]
        return f"{rdata.preference} {exchange}"  # type: ignore[attr-defined]
    if rdata.rdtype in (dns.rdatatype.PTR, dns.rdatatype.CNAME, dns.rdatatype.NS):
        return str(rdata.target.to_text(omit_final_dot=True).lower())  # type: ignore[attr-defined]
    return str(rdata.to_text())


def parse_resolver_address(value: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port`, a bare host or a bare IPv6 address (`::1`, `[::1]`) → (host, port).

    The port defaults to 53. Raises ValueError for an empty value, an unclosed or non-IPv6 bracket, or a
    port that is not a number from 1 to 65535.
    """
    text = value.strip()
    if not text:
        raise ValueError("empty resolver address")
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"resolver address {value!r}: expected [IPv6] or [IPv6]:port")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"resolver address {value!r}: {host!r} in brackets is not IPv6") from None
        return host, _port(rest[1:], value) if rest else 53
    if text.count(":") == 1:  # two or more colons: a bare IPv6 address, whose last group is no port
        host, _, port = text.partition(":")
        if not host:
            raise ValueError(f"resolver address {value!r} has no host")
        return host, _port(port, value)
    return text, 53


def _port(text: str, value: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ValueError(f"resolver address {value!r}: port {text!r} is not a number from 1 to 65535")
    return int(text)


def nameserver_addresses(host: str) -> list[str]:
    """The IP addresses to query for `host`: an IP literal as is, a name through the system's resolver."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise ValueError(f"resolver host {host!r} does not resolve: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def make_resolver(address: str | None = None, *, timeout: float = 3.0) -> dns.asyncresolver.Resolver:
    """The one way POT builds a dnspython resolver: at `address` (see parse_resolver_address), else the
    system's (resolv.conf) when `address` is empty; `timeout` bounds each query and the whole lookup."""
    if address and address.strip():
        host, port = parse_resolver_address(address)
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = nameserver_addresses(host)
        resolver.port = port
    else:
        resolver = dns.asyncresolver.Resolver()
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


class DnsResolver:
    """Lookups as the checks compare them, through `make_resolver(address)` (the system's when None).

    `lookup` raises DnsTemporaryError when DNS cannot answer and ValueError for a name DNS cannot hold.
    """

    def __init__(self, address: str | None = None, *, timeout: float = 3.0) -> None:
        self._resolver = make_resolver(address, timeout=timeout)
        self.address = address

    async def lookup(self, name: str, rdtype: str) -> Answer:
        try:
            answer = await self._resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return Answer(Status.NXDOMAIN)
        except (dns.resolver.NoNameservers, dns.exception.Timeout, dns.resolver.LifetimeTimeout) as exc:
            raise DnsTemporaryError(f"{rdtype} {name}: {exc.__class__.__name__}") from None
        except (dns.exception.SyntaxError, dns.name.NameTooLong, dns.name.IDNAException) as exc:
            # An empty or over-long label, a name over 255 octets, a U-label IDNA refuses.
            raise ValueError(f"invalid name {name[:300]!r}: {exc}") from None
        if answer.rrset is None:
            return Answer(Status.NODATA)
        return Answer(Status.OK, tuple(rdata_text(r) for r in answer.rrset))


def resolver_from_env(address: str | None = None) -> DnsResolver:
    """The resolver for a process: an explicit address, else POT_DNS_RESOLVER, else the system's."""
    return DnsResolver(address or os.environ.get("POT_DNS_RESOLVER") or None)


def reverse_name(ip: str) -> str:
    """The in-addr.arpa / ip6.arpa name of an address, without the final dot."""
    return str(dns.reversename.from_address(ip).to_text(omit_final_dot=True))
