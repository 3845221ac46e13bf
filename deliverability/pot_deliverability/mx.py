"""MX lookup with RFC 7505 null MX and the RFC 5321 implicit MX; used by preflight and the email checker."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from pot_deliverability.dns import Resolver, Status


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
