"""DNS lookups for the deliverability checks, honouring POT_DNS_RESOLVER; used by every check module here."""

from __future__ import annotations

import os
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
    """`host:port`, `host` or `[v6]:port` → (host, port); port defaults to 53."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, int(port)
    return value, 53


class DnsResolver:
    """dnspython's async resolver, pointed at `address` (`host:port`) or the system's resolvers."""

    def __init__(self, address: str | None = None, *, timeout: float = 3.0) -> None:
        if address:
            host, port = parse_resolver_address(address)
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [host]
            self._resolver.port = port
        else:
            self._resolver = dns.asyncresolver.Resolver()
        self._resolver.lifetime = timeout
        self._resolver.timeout = timeout
        self.address = address

    async def lookup(self, name: str, rdtype: str) -> Answer:
        try:
            answer = await self._resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return Answer(Status.NXDOMAIN)
        except (dns.resolver.NoNameservers, dns.exception.Timeout, dns.resolver.LifetimeTimeout) as exc:
            raise DnsTemporaryError(f"{rdtype} {name}: {exc.__class__.__name__}") from None
        except dns.name.EmptyLabel as exc:
            raise ValueError(f"invalid name {name!r}") from exc
        if answer.rrset is None:
            return Answer(Status.NODATA)
        return Answer(Status.OK, tuple(rdata_text(r) for r in answer.rrset))


def resolver_from_env(address: str | None = None) -> DnsResolver:
    """The resolver for a process: an explicit `host:port`, else POT_DNS_RESOLVER, else the system's."""
    return DnsResolver(address or os.environ.get("POT_DNS_RESOLVER") or None)


def reverse_name(ip: str) -> str:
    """The in-addr.arpa / ip6.arpa name of an address, without the final dot."""
    return str(dns.reversename.from_address(ip).to_text(omit_final_dot=True))
