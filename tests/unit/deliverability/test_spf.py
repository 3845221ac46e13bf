"""RFC 7208 evaluation: every case in checks-spf.zone, plus limits, errors and macros in detail."""

from __future__ import annotations

from typing import Any

import pytest
from pot_deliverability import spf, spf_record
from pot_deliverability.spf import SpfResult


async def test_rfc7208_case(spf_case: Any, zone_resolver: Any) -> None:
    outcome = await spf.check_host(
        spf_case.ip, spf_case.domain, spf_case.sender, zone_resolver, helo=spf_case.helo
    )
    assert outcome.result.value == spf_case.expected, outcome


def test_case_table_names_every_mechanism(zone_text: str) -> None:
    for term in ("include:", "redirect=", " a ", " mx ", " ptr ", "ip4:", "ip6:", "exists:", "%{l}", "%{ir}"):
        assert term in zone_text


async def test_ten_lookups_are_counted_and_allowed(zone_resolver: Any) -> None:
    outcome = await spf.check_host("192.0.2.1", "limit10.spf.test", "a@limit10.spf.test", zone_resolver)
    assert (outcome.result, outcome.lookups) == (SpfResult.FAIL, 10)


async def test_eleventh_lookup_is_a_permerror_with_the_reason(zone_resolver: Any) -> None:
    outcome = await spf.check_host("192.0.2.1", "limit11.spf.test", "a@limit11.spf.test", zone_resolver)
    assert outcome.result is SpfResult.PERMERROR
    assert "more than 10" in outcome.reason


async def test_third_void_lookup_is_a_permerror(zone_resolver: Any) -> None:
    two = await spf.check_host("198.51.100.10", "void2.spf.test", "a@void2.spf.test", zone_resolver)
    three = await spf.check_host("198.51.100.10", "void3.spf.test", "a@void3.spf.test", zone_resolver)
    assert (two.result, two.void_lookups) == (SpfResult.FAIL, 2)
    assert three.result is SpfResult.PERMERROR and "void" in three.reason


async def test_dns_failure_is_a_temperror(zone_resolver: Any) -> None:
    # The zone resolver refuses names outside its zones, as an authoritative server does.
    outcome = await spf.check_host("198.51.100.10", "elsewhere.invalid", "a@elsewhere.invalid", zone_resolver)
    assert outcome.result is SpfResult.TEMPERROR


async def test_temperror_inside_an_include_propagates() -> None:
    class Failing:
        async def lookup(self, name: str, rdtype: str) -> Any:
            from pot_deliverability.dns import Answer, DnsTemporaryError, Status

            if name == "outer.example":
                return Answer(Status.OK, ("v=spf1 include:inner.example -all",))
            raise DnsTemporaryError("timeout")

    outcome = await spf.check_host("198.51.100.10", "outer.example", "a@outer.example", Failing())
    assert outcome.result is SpfResult.TEMPERROR


async def test_fail_carries_the_expanded_explanation(zone_resolver: Any) -> None:
    outcome = await spf.check_host("192.0.2.9", "explained.spf.test", "a@explained.spf.test", zone_resolver)
    assert outcome.explanation == "192.0.2.9 is not one of explained.spf.test's designated mail servers"


async def test_match_reports_the_mechanism(zone_resolver: Any) -> None:
    outcome = await spf.check_host("198.51.100.30", "include.spf.test", "a@include.spf.test", zone_resolver)
    assert outcome.mechanism == "include:target.spf.test"
    assert "include.spf.test" in outcome.reason


async def test_ipv4_mapped_ipv6_is_treated_as_ipv4(zone_resolver: Any) -> None:
    outcome = await spf.check_host("::ffff:198.51.100.10", "ip4.spf.test", "a@ip4.spf.test", zone_resolver)
    assert outcome.result is SpfResult.PASS


async def test_ipv6_i_macro_is_nibble_format() -> None:
    ctx = spf._Context(spf.ipaddress.ip_address("2001:db8::cb01"), "a@x.example", "", resolver=None)  # type: ignore[arg-type]
    expanded = await spf.expand(ctx, "%{ir}.%{v}._spf.%{d2}", "mail.x.example")
    assert expanded == "1.0.b.c." + "0." * 20 + "8.b.d.0.1.0.0.2.ip6._spf.x.example"


async def test_macro_transformers_and_escapes() -> None:
    ctx = spf._Context(spf.ipaddress.ip_address("192.0.2.3"), "strong-bad@email.example.com", "", None)  # type: ignore[arg-type]
    assert await spf.expand(ctx, "%{l-}", "email.example.com") == "strong.bad"
    assert await spf.expand(ctx, "%{o1r}", "x") == "email"
    assert await spf.expand(ctx, "%{d2}", "email.example.com") == "example.com"
    assert await spf.expand(ctx, "%%%_%-", "x") == "% %20"
    assert await spf.expand(ctx, "%{L}", "x") == "strong-bad"


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 ip4:300.1.1.1 -all",
        "v=spf1 ip6:198.51.100.1 -all",
        "v=spf1 ip4:198.51.100.0/33 -all",
        "v=spf1 all:x.example",
        "v=spf1 include -all",
        "v=spf1 exists:%{z}.example -all",
        "v=spf1 a:%{i -all",
        "v=spf1 ptr/24 -all",
        "v=spf1 redirect=",
    ],
)
def test_syntax_errors_are_permerrors(record: str) -> None:
    with pytest.raises(spf_record.PermError):
        spf_record.parse_record(record)


def test_two_spf_records_are_a_permerror_and_prefixes_do_not_count() -> None:
    with pytest.raises(spf_record.PermError):
        spf_record.find_spf_record(("v=spf1 -all", "v=spf1 +all"))
    assert spf_record.find_spf_record(("v=spf10 -all", "v=spf1 -all")) == "v=spf1 -all"
