"""The Tools page's blocklist check, run in the console: pot_deliverability's DNSBL queries as job lines.

potctl has no blocklist command of its own (preflight checks a domain's blocklists among its other
checks); this tool asks the same library (pot_deliverability.dnsbl, each zone self-tested per RFC
5782 §5 before its answers count) about any IP addresses and domains a person types in.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping

from pot_deliverability import dnsbl
from pot_deliverability.dns import domain_name, resolver_from_env

from pot_console.jobs import Job
from pot_console.tools import MAX_LINES, Field, FormError

FIELDS = (
    Field("ips", "IP ADDRESSES", "IPv4 or IPv6 addresses, one per line.", "lines", argument=True),
    Field(
        "domains", "DOMAINS", "Domains, one per line (checked against domain: zones).", "lines", argument=True
    ),
    Field(
        "zones",
        "--blocklists",
        "Comma-separated DNSBL zones, `domain:ZONE` for domain lists. Default: POT_DNSBL_ZONES.",
        "text",
        flag="--blocklists",
        envvar="POT_DNSBL_ZONES",
    ),
    Field(
        "resolver",
        "--resolver",
        "DNS server as host:port. Default: POT_DNS_RESOLVER, else the system's.",
        "text",
        flag="--resolver",
    ),
)


def parse_request(form: Mapping[str, str]) -> tuple[list[str], list[str], str, str]:
    """The form as (ips, domains, zones, resolver); FormError names the first bad entry."""
    ips = [line.strip() for line in form.get("ips", "").splitlines() if line.strip()]
    domains = [line.strip() for line in form.get("domains", "").splitlines() if line.strip()]
    if not ips and not domains:
        raise FormError("give at least one IP address or domain")
    if len(ips) + len(domains) > MAX_LINES:
        raise FormError(f"at most {MAX_LINES} IP addresses and domains")
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise FormError(f"IP ADDRESSES: {ip[:80]!r} is not an IP address") from None
    checked = []
    for domain in domains:
        try:
            checked.append(domain_name(domain))
        except ValueError as error:
            raise FormError(f"DOMAINS: {domain[:80]!r} {error}") from None
    zones = form.get("zones", "").strip() or os.environ.get("POT_DNSBL_ZONES", "")
    if not dnsbl.parse_zones(zones):
        raise FormError("--blocklists: name at least one zone (or set POT_DNSBL_ZONES)")
    return ips, checked, zones, form.get("resolver", "").strip()


async def run(job: Job, ips: list[str], domains: list[str], zones: str, resolver: str) -> int:
    """Exit status as potctl's checks have it: 1 when anything is listed, else 0."""
    blocklists = dnsbl.Blocklists(dnsbl.parse_zones(zones), resolver_from_env(resolver or None))
    listings, untrusted = await blocklists.check(ips, domains)
    for test in untrusted:
        await job.line("err", f"zone {test.zone} not used: {test.why}")
    listed = 0
    for listing in listings:
        if listing.error:
            await job.line("out", f"{listing.item}: {listing.zone}: unknown ({listing.error})")
        elif listing.listed:
            listed += 1
            why = "; ".join(listing.meanings) + (f" ({listing.reason})" if listing.reason else "")
            await job.line("out", f"{listing.item}: LISTED in {listing.zone}: {why}")
        else:
            await job.line("out", f"{listing.item}: not listed in {listing.zone}")
    await job.line("out", f"{listed} listing(s) in {len(listings)} quer(ies)")
    return 1 if listed else 0
