"""SPF, preflight and blocklists through the real DNS server (UDP/TCP, dnspython), not the zone reader."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pot_deliverability import dnsbl, spf
from pot_deliverability.dns import DnsResolver
from pot_deliverability.preflight import Level, preflight_domain
from pot_stack.service import free_port

ZONE = Path(__file__).resolve().parents[2] / "stack" / "pot_stack" / "zones" / "checks-spf.zone"
CASES = re.findall(r"^;; expect (\S+) (\S+) (\S+) (\S+)\s*$", ZONE.read_text(), re.MULTILINE)


async def test_every_spf_case_through_the_dns_server(resolver: Any) -> None:
    wrong = []
    for ip, sender, helo, expected in CASES:
        sender, helo = ("" if sender == "-" else sender), ("" if helo == "-" else helo)
        domain = sender.rpartition("@")[2] if sender else helo
        outcome = await spf.check_host(ip, domain, sender, resolver, helo=helo)
        if outcome.result.value != expected:
            wrong.append((ip, sender or helo, expected, outcome.result.value, outcome.reason))
    assert len(CASES) > 50 and wrong == []


async def test_unreachable_resolver_gives_temperror() -> None:
    resolver = DnsResolver(f"127.0.0.1:{free_port()}", timeout=0.5)
    outcome = await spf.check_host("198.51.100.10", "ip4.spf.test", "a@ip4.spf.test", resolver)
    assert outcome.result is spf.SpfResult.TEMPERROR


@pytest.mark.parametrize(
    ("domain", "level"),
    [
        ("good.test", Level.PASS),
        ("weakdkim.test", Level.WARN),
        ("nullmx.test", Level.FAIL),
        ("listed.test", Level.FAIL),
    ],
)
async def test_preflight_through_the_dns_server(domain: str, level: Level, resolver: Any) -> None:
    lists = dnsbl.Blocklists(
        [dnsbl.DnsblZone("bl.test"), dnsbl.DnsblZone("dbl.test", dnsbl.ZoneKind.DOMAIN)], resolver
    )
    report = await preflight_domain(
        domain, "mx." + domain if domain != "nullmx.test" else "127.0.0.1", resolver, blocklists=lists
    )
    assert report.level is level, report.as_dict()


async def test_blocklist_self_test_failure_through_the_dns_server(resolver: Any) -> None:
    broken = await dnsbl.self_test(dnsbl.DnsblZone("brokenbl.test"), resolver)
    good = await dnsbl.self_test(dnsbl.DnsblZone("bl.test"), resolver)
    assert (broken.trusted, good.trusted) == (False, True)
