"""RFC 5782 blocklists: query names, the self-test of each kind of zone, and return-code decoding."""

from __future__ import annotations

from typing import Any

import pytest
from pot_deliverability import dnsbl
from pot_deliverability.dnsbl import DnsblZone, ZoneKind


def test_query_names_follow_rfc5782() -> None:
    assert dnsbl.query_name("192.0.2.99", DnsblZone("bl.example")) == "99.2.0.192.bl.example"
    v6 = dnsbl.query_name("2001:db8:1:2:3:4:567:89ab", DnsblZone("bl.example"))
    assert v6 == "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.example"
    assert (
        dnsbl.query_name("Example.COM.", DnsblZone("dbl.example", ZoneKind.DOMAIN))
        == "example.com.dbl.example"
    )


def test_zone_spec_parsing() -> None:
    assert dnsbl.parse_zones("bl.test, domain:dbl.test,ip:x.test.") == [
        DnsblZone("bl.test"),
        DnsblZone("dbl.test", ZoneKind.DOMAIN),
        DnsblZone("x.test"),
    ]


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        ("127.0.0.2", "listed"),
        ("127.0.0.10", "listed (code 127.0.0.10)"),
        ("127.255.255.254", "query came through a public or open resolver"),
        ("10.0.0.1", "answer 10.0.0.1 is outside 127.0.0.0/8 (not a DNSBL answer)"),
    ],
)
def test_return_codes_are_decoded(code: str, meaning: str) -> None:
    assert dnsbl.decode(code, DnsblZone("bl.example")) == meaning


def test_a_zone_can_name_its_own_codes() -> None:
    zone = DnsblZone("zen.example", codes={"127.0.0.4": "XBL: exploited host"})
    assert dnsbl.decode("127.0.0.4", zone) == "XBL: exploited host"


@pytest.mark.parametrize(
    ("zone", "trusted", "why"),
    [
        (DnsblZone("bl.test"), True, "passed"),
        (DnsblZone("checksbl.test"), True, "passed"),
        (DnsblZone("dbl.test", ZoneKind.DOMAIN), True, "passed"),
        (DnsblZone("brokenbl.test"), False, "lists 127.0.0.1"),
        (DnsblZone("checksemptybl.test"), False, "does not list the test entry 127.0.0.2"),
        (DnsblZone("checksrefusedbl.test"), False, "public or open resolver"),
        (DnsblZone("nosuchlist.invalid"), False, "DNS error"),
        (DnsblZone("bl.test", ZoneKind.DOMAIN), False, "does not list the test entry test"),
    ],
)
async def test_self_test(zone: DnsblZone, trusted: bool, why: str, zone_resolver: Any) -> None:
    result = await dnsbl.self_test(zone, zone_resolver)
    assert (result.trusted, why in result.why) == (trusted, True), result


async def test_untrusted_zone_is_not_queried_for_real_items(zone_resolver: Any) -> None:
    lists = dnsbl.Blocklists([DnsblZone("checksbrokenbl.test")], zone_resolver)
    listings, untrusted = await lists.check(["198.51.100.66"], [])
    assert listings == [] and [t.zone.zone for t in untrusted] == ["checksbrokenbl.test"]
    assert ("66.100.51.198.checksbrokenbl.test", "A") not in zone_resolver.queries


async def test_self_test_runs_once_per_zone(zone_resolver: Any) -> None:
    lists = dnsbl.Blocklists([DnsblZone("bl.test")], zone_resolver)
    await lists.check(["192.0.2.1"], [])
    await lists.check(["192.0.2.2"], [])
    assert zone_resolver.queries.count(("2.0.0.127.bl.test", "A")) == 1
