"""MX lookup with RFC 7505 null MX and the RFC 5321 implicit MX, and which provider an MX host belongs to;
used by preflight and the email checker (its politeness is per host and per provider)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from pot_common.domains import registrable_domain

from pot_deliverability.dns import Resolver, Status

# The big providers, named by their MX hosts' suffixes: there several registrable domains are one
# provider (google.com, googlemail.com) and one registrable domain is two (outlook.com's consumer and
# Microsoft 365 MX hosts).
KNOWN_PROVIDERS = (
    ("google.com", "google"),
    ("googlemail.com", "google"),
    ("olc.protection.outlook.com", "outlook"),
    ("mail.protection.outlook.com", "microsoft365"),
    ("yahoodns.net", "yahoo"),
)


class MxStatus(StrEnum):
    OK = "ok"  # one or more real exchanges
    IMPLICIT = "implicit"  # no MX, but an address record: mail goes to the domain itself (RFC 5321 §5.1)
    NULL_MX = "null_mx"  # "MX 0 ." — the domain accepts no mail (RFC 7505)
    NONE = "none"  # neither MX nor address
    NXDOMAIN = "nxdomain"


@dataclass(frozen=True)
class MxResult:
    """Where mail for a domain goes, exchanges in preference order."""

    domain: str
    status: MxStatus
    hosts: tuple[str, ...] = ()


async def lookup_mx(domain: str, resolver: Resolver) -> MxResult:
    """The exchanges for `domain`; raises DnsTemporaryError when DNS cannot say."""
    domain = domain.rstrip(".").lower()
    answer = await resolver.lookup(domain, "MX")
    if answer.status is Status.NXDOMAIN:
        return MxResult(domain, MxStatus.NXDOMAIN)
    pairs = []
    for record in answer.records:
        preference, _, host = record.partition(" ")
        pairs.append((int(preference), host.rstrip(".")))
    if pairs:
        if any(host in ("", ".") for _, host in pairs):
            return MxResult(domain, MxStatus.NULL_MX)
        return MxResult(domain, MxStatus.OK, tuple(host for _, host in sorted(pairs)))
    for rdtype in ("A", "AAAA"):
        if (await resolver.lookup(domain, rdtype)).records:
            return MxResult(domain, MxStatus.IMPLICIT, (domain,))
    return MxResult(domain, MxStatus.NONE)


def provider_group(host: str) -> str:
    """The provider an MX host belongs to: a big provider by its MX suffix, any other host by its
    registrable domain (every `*.mail.example.net` MX of a hosting company is one group, while
    `mx.a.co.uk` and `mx.b.co.uk` are two)."""
    host = host.lower().rstrip(".")
    for suffix, name in KNOWN_PROVIDERS:
        if host == suffix or host.endswith("." + suffix):
            return name
    return registrable_domain(host) if "." in host else host


async def host_addresses(host: str, resolver: Resolver) -> list[str]:
    """A and AAAA addresses of a host (IPv4 first); an IP literal is returned as is."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    out: list[str] = []
    for rdtype in ("A", "AAAA"):
        out.extend((await resolver.lookup(host, rdtype)).records)
    return out
