"""Unit-test helpers for the deliverability checks: resolvers answering from the stack's zone files or a dict.

The checks are pure logic over DNS answers, so the unit tier reads the same BIND files the real DNS server
serves (tests/stack/pot_stack/zones) and answers like an authoritative server: NXDOMAIN inside a zone,
REFUSED (a temporary error to the resolver) outside every zone. The integration tier runs the same cases
against the real server.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from pot_deliverability.dns import Answer, DnsTemporaryError, Status, domain_name, rdata_text
from pot_stack.dns_server import split_long_strings

ZONES_DIR = Path(__file__).resolve().parents[2] / "stack" / "pot_stack" / "zones"


class ZoneResolver:
    """Answers from parsed zone files; `queries` records every lookup so tests can count them."""

    def __init__(self, zones: tuple[dns.zone.Zone, ...]) -> None:
        self.zones = sorted(zones, key=lambda z: len(z.origin), reverse=True)  # most specific first
        self.queries: list[tuple[str, str]] = []

    async def lookup(self, name: str, rdtype: str) -> Answer:
        self.queries.append((name, rdtype))
        qname = dns.name.from_text(name)
        for zone in self.zones:
            if qname.is_subdomain(zone.origin):
                node = zone.get_node(qname)
                if node is None:
                    below = any(n.is_subdomain(qname) for n in zone.nodes)  # empty non-terminal
                    return Answer(Status.NODATA if below else Status.NXDOMAIN)
                rdataset = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype))
                if rdataset is None:
                    return Answer(Status.NODATA)
                return Answer(Status.OK, tuple(rdata_text(r) for r in rdataset))
        raise DnsTemporaryError(f"{rdtype} {name}: REFUSED")


class DictResolver:
    """A DNS world in a dict, for tests that state the records they need and nothing else.

    Names with records exist; a name above one of them without records of its own is NODATA (an empty
    non-terminal); any other name is NXDOMAIN; names in `failing` time out (a temporary error).
    """

    def __init__(
        self, records: Mapping[str, Iterable[str]] | None = None, failing: Iterable[str] = ()
    ) -> None:
        """`records` maps "name TYPE" to its records as text ("name TXT": ["v=spf1 -all"])."""
        self.records: dict[tuple[str, str], tuple[str, ...]] = {}
        for key, values in (records or {}).items():
            name, _, rdtype = key.rpartition(" ")
            self.records[(name.lower().rstrip("."), rdtype.upper())] = tuple(values)
        self.failing = {f.lower() for f in failing}
        self.queries: list[tuple[str, str]] = []

    async def lookup(self, name: str, rdtype: str) -> Answer:
        name = name.lower().rstrip(".")
        self.queries.append((name, rdtype))
        if not name.isascii():  # as the real resolver: a U-label is looked up as its A-labels
            name = domain_name(name, multi_label=False)
        if name in self.failing:
            raise DnsTemporaryError(f"{rdtype} {name}: Timeout")
        found = self.records.get((name, rdtype))
        if found:
            return Answer(Status.OK, found)
        if any(n == name or n.endswith("." + name) for n, _ in self.records):
            return Answer(Status.NODATA)
        return Answer(Status.NXDOMAIN)


@pytest.fixture
def world() -> Callable[..., DictResolver]:
    """`world({"name TXT": ["v=spf1 -all"], ...}, failing=[...])`: a DictResolver."""
    return DictResolver


@functools.cache
def load_zones(pattern: str = "*.zone") -> tuple[dns.zone.Zone, ...]:
    # The real server splits TXT strings over 255 characters (DKIM keys); dnspython needs the same.
    return tuple(
        dns.zone.from_text(split_long_strings(p.read_text()), relativize=False)
        for p in sorted(ZONES_DIR.glob(pattern))
    )


@dataclass(frozen=True)
class SpfCase:
    ip: str
    sender: str
    helo: str
    expected: str

    @property
    def domain(self) -> str:
        return self.sender.rpartition("@")[2] if self.sender else self.helo

    def __str__(self) -> str:
        return f"{self.ip}-{self.sender or 'helo:' + self.helo}"


_EXPECT = re.compile(r"^;; expect (\S+) (\S+) (\S+) (\S+)\s*$")


def spf_cases() -> list[SpfCase]:
    cases = []
    for line in (ZONES_DIR / "checks-spf.zone").read_text().splitlines():
        m = _EXPECT.match(line)
        if m:
            ip, sender, helo, expected = m.groups()
            cases.append(SpfCase(ip, "" if sender == "-" else sender, "" if helo == "-" else helo, expected))
    return cases


@pytest.fixture
def zone_resolver() -> ZoneResolver:
    return ZoneResolver(load_zones())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "spf_case" in metafunc.fixturenames:
        metafunc.parametrize("spf_case", spf_cases(), ids=str)


@pytest.fixture
def zone_text() -> str:
    return (ZONES_DIR / "checks-spf.zone").read_text()
