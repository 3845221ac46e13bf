"""DNS blocklist queries, the RFC 5782 §5 self-test and return-code decoding; for preflight, operator."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

from pot_deliverability.dns import DnsTemporaryError, Resolver, Status


class ZoneKind(StrEnum):
    IP = "ip"
    DOMAIN = "domain"


# Codes a list answers with when it refuses to answer rather than when it lists something; Spamhaus documents
# these, and its public mirrors answer 127.255.255.254 to every query from an open resolver.
ERROR_CODES = {
    "127.255.255.252": "typing error in the DNSBL name",
    "127.255.255.254": "query came through a public or open resolver",
    "127.255.255.255": "too many queries from this resolver",
}


@dataclass(frozen=True)
class DnsblZone:
    """A list to consult: its zone, whether it lists IPs or domains, and what its codes mean."""

    zone: str
    kind: ZoneKind = ZoneKind.IP
    codes: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.zone}"


def parse_zones(spec: str) -> list[DnsblZone]:
    """`zen.example,domain:dbl.example` → zones; an entry without a kind lists IPs."""
    zones = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        kind, sep, zone = item.partition(":")
        if sep and kind in ("ip", "domain"):
            zones.append(DnsblZone(zone.strip().rstrip("."), ZoneKind(kind)))
        else:
            zones.append(DnsblZone(item.rstrip(".")))
    return zones


def query_name(item: str, zone: DnsblZone) -> str:
    """RFC 5782 §2.1 (IPv4 octets reversed), §2.4 (IPv6 nibbles reversed), §3 (domain prepended)."""
    if zone.kind is ZoneKind.DOMAIN:
        return f"{item.rstrip('.').lower()}.{zone.zone}"
    ip = ipaddress.ip_address(item)
    if ip.version == 4:
        return ".".join(reversed(str(ip).split("."))) + "." + zone.zone
    return ".".join(reversed(ip.exploded.replace(":", ""))) + "." + zone.zone


def decode(code: str, zone: DnsblZone) -> str:
    """What a return code means: the zone's own table, the refusal codes, else a generic reading."""
    if code in zone.codes:
        return zone.codes[code]
    if code in ERROR_CODES:
        return ERROR_CODES[code]
    try:
        address = ipaddress.ip_address(code)
    except ValueError:
        return f"unexpected answer {code!r}"
    if address not in ipaddress.ip_network("127.0.0.0/8"):
        return f"answer {code} is outside 127.0.0.0/8 (not a DNSBL answer)"
    return "listed" if code == "127.0.0.2" else f"listed (code {code})"


def is_listing_code(code: str) -> bool:
    try:
        address = ipaddress.ip_address(code)
    except ValueError:
        return False
    return address in ipaddress.ip_network("127.0.0.0/8") and code not in ERROR_CODES


@dataclass(frozen=True)
class Listing:
    """One query's answer: listed or not, the codes and their meanings, the TXT reason if any."""

    zone: DnsblZone
    item: str
    listed: bool
    codes: tuple[str, ...] = ()
    meanings: tuple[str, ...] = ()
    reason: str = ""
    error: str = ""


async def query(item: str, zone: DnsblZone, resolver: Resolver) -> Listing:
    name = query_name(item, zone)
    try:
        answer = await resolver.lookup(name, "A")
    except DnsTemporaryError as exc:
        return Listing(zone, item, False, error=f"DNS error: {exc}")
    codes = answer.records if answer.status is Status.OK else ()
    meanings = tuple(decode(c, zone) for c in codes)
    refusals = [m for c, m in zip(codes, meanings, strict=True) if not is_listing_code(c)]
    if refusals:
        return Listing(zone, item, False, codes, meanings, error="; ".join(refusals))
    reason = ""
    if codes:
        try:
            reason = " ".join((await resolver.lookup(name, "TXT")).records)
        except DnsTemporaryError:
            reason = ""
    return Listing(zone, item, bool(codes), codes, meanings, reason)


@dataclass(frozen=True)
class SelfTest:
    """Whether a zone behaves as RFC 5782 §5 requires, and if not, why its answers are not trusted."""

    zone: DnsblZone
    trusted: bool
    why: str


async def self_test(zone: DnsblZone, resolver: Resolver) -> SelfTest:
    """IP lists must list 127.0.0.2 and not 127.0.0.1; domain lists must list `test` and not `invalid`."""
    listed_probe, clean_probe = (
        ("127.0.0.2", "127.0.0.1") if zone.kind is ZoneKind.IP else ("test", "invalid")
    )
    positive = await query(listed_probe, zone, resolver)
    negative = await query(clean_probe, zone, resolver)
    for probe in (positive, negative):
        if probe.error:
            return SelfTest(zone, False, f"{zone.zone} answered {probe.item} with an error: {probe.error}")
    if not positive.listed:
        return SelfTest(zone, False, f"{zone.zone} does not list the test entry {listed_probe} (RFC 5782 §5)")
    if negative.listed:
        return SelfTest(zone, False, f"{zone.zone} lists {clean_probe}, which no list may (RFC 5782 §5)")
    return SelfTest(zone, True, f"{zone.zone} passed its RFC 5782 self-test")


class Blocklists:
    """The configured zones, each self-tested once before its answers count; one per process."""

    def __init__(self, zones: list[DnsblZone], resolver: Resolver) -> None:
        self.zones = zones
        self.resolver = resolver
        self._tests: dict[str, SelfTest] = {}

    async def self_tests(self) -> list[SelfTest]:
        for zone in self.zones:
            if str(zone) not in self._tests:
                self._tests[str(zone)] = await self_test(zone, self.resolver)
        return [self._tests[str(z)] for z in self.zones]

    async def check(self, ips: list[str], domains: list[str]) -> tuple[list[Listing], list[SelfTest]]:
        """Listings from trusted zones for these IPs and domains, and the zones that failed self-test."""
        tests = await self.self_tests()
        listings: list[Listing] = []
        for test in tests:
            if not test.trusted:
                continue
            items = ips if test.zone.kind is ZoneKind.IP else domains
            for item in items:
                listings.append(await query(item, test.zone, self.resolver))
        return listings, [t for t in tests if not t.trusted]
