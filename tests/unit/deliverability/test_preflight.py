"""Preflight over every good and broken .test zone: which check passes, warns or fails, and why."""

from __future__ import annotations

from typing import Any

import pytest
from pot_deliverability import dnsbl
from pot_deliverability.preflight import Level, preflight_domain

# domain -> (the check that decides, its level, words its reason must contain); SMTP host 127.0.0.1,
# blocklists bl.test (IPs) and dbl.test (domains), as the operator would configure them for the stack.
BASE_ZONES = {
    "good.test": (None, Level.PASS, ""),
    "acme-mail.test": (None, Level.PASS, ""),
    "acme-outreach.test": (None, Level.PASS, ""),
    "nomx.test": ("mx", Level.FAIL, "neither MX nor address"),
    "nullmx.test": ("mx", Level.FAIL, "null MX"),
    "nospf.test": ("spf", Level.FAIL, "SPF none"),
    "badspf.test": ("spf", Level.FAIL, "SPF permerror"),
    "nodkim.test": ("dkim", Level.FAIL, "no DKIM key"),
    "weakdkim.test": ("dkim", Level.WARN, "1024 bits"),
    "dkim512.test": ("dkim", Level.FAIL, "512 bits"),
    "nodmarc.test": ("dmarc", Level.FAIL, "no DMARC record"),
    "baddmarc.test": ("dmarc", Level.FAIL, "does not parse"),
    "listed.test": ("blocklist", Level.FAIL, "listed.test listed on dbl.test"),
}


def lists(resolver: Any, *extra: dnsbl.DnsblZone) -> dnsbl.Blocklists:
    zones = [dnsbl.DnsblZone("bl.test"), dnsbl.DnsblZone("dbl.test", dnsbl.ZoneKind.DOMAIN), *extra]
    return dnsbl.Blocklists(zones, resolver)


@pytest.mark.parametrize("domain", sorted(BASE_ZONES))
async def test_base_zone(domain: str, zone_resolver: Any) -> None:
    name, level, words = BASE_ZONES[domain]
    report = await preflight_domain(domain, "127.0.0.1", zone_resolver, blocklists=lists(zone_resolver))
    assert report.level is level, report.as_dict()
    others = [c for c in report.checks if c.name != name]
    assert all(c.level is Level.PASS for c in others), report.as_dict()
    if name is not None:
        assert words in report.check(name).why
        assert report.passed is (level is not Level.FAIL)


async def test_good_zone_reasons_name_what_was_found(zone_resolver: Any) -> None:
    report = await preflight_domain("good.test", "mx.good.test", zone_resolver)
    assert report.check("mx").why == "MX: mx.good.test"
    assert "SPF pass for mx.good.test (127.0.0.1)" in report.check("spf").why
    assert report.check("dkim").details["bits"] == 2048
    assert report.check("dmarc").details["policy"] == "quarantine"


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("ok", {"mx": Level.PASS, "spf": Level.PASS, "dkim": Level.PASS, "dmarc": Level.PASS}),
        ("weak", {"spf": Level.WARN, "dkim": Level.WARN, "dmarc": Level.WARN}),
        ("broken", {"mx": Level.FAIL, "spf": Level.FAIL, "dkim": Level.FAIL, "dmarc": Level.FAIL}),
        ("bare", {"mx": Level.WARN, "spf": Level.FAIL, "dkim": Level.FAIL, "dmarc": Level.FAIL}),
        ("revoked", {"spf": Level.FAIL, "dkim": Level.FAIL, "dmarc": Level.PASS}),
        ("listed", {"blocklist": Level.FAIL, "spf": Level.PASS}),
    ],
)
async def test_preflight_case_zone(domain: str, expected: dict[str, Level], zone_resolver: Any) -> None:
    blocklists = dnsbl.Blocklists(
        [dnsbl.DnsblZone("checksbl.test"), dnsbl.DnsblZone("checksdbl.test", dnsbl.ZoneKind.DOMAIN)],
        zone_resolver,
    )
    report = await preflight_domain(
        f"{domain}.pf.test", f"smtp.{domain}.pf.test", zone_resolver, blocklists=blocklists
    )
    assert {name: report.check(name).level for name in expected} == expected, report.as_dict()


async def test_blocklist_hit_names_the_address_code_and_reason(zone_resolver: Any) -> None:
    blocklists = dnsbl.Blocklists([dnsbl.DnsblZone("checksbl.test")], zone_resolver)
    report = await preflight_domain(
        "listed.pf.test", "smtp.listed.pf.test", zone_resolver, blocklists=blocklists
    )
    why = report.check("blocklist").why
    assert "198.51.100.66 listed on checksbl.test (listed (code 127.0.0.4))" in why
    assert "sent spam to our traps" in why


async def test_misaligned_from_domain_fails_dmarc(zone_resolver: Any) -> None:
    report = await preflight_domain("good.test", "127.0.0.1", zone_resolver, from_domain="acme-mail.test")
    assert report.check("dmarc").level is Level.FAIL
    assert "does not align" in report.check("dmarc").why


async def test_broken_blocklist_warns_and_its_answers_are_ignored(zone_resolver: Any) -> None:
    report = await preflight_domain(
        "good.test",
        "127.0.0.1",
        zone_resolver,
        blocklists=lists(zone_resolver, dnsbl.DnsblZone("brokenbl.test")),
    )
    check = report.check("blocklist")
    assert check.level is Level.WARN
    assert "brokenbl.test lists 127.0.0.1" in check.why
    assert check.details["listings"] == []


async def test_dns_failure_warns_instead_of_raising(zone_resolver: Any) -> None:
    report = await preflight_domain("nowhere.invalid", None, zone_resolver)
    assert {c.level for c in report.checks} == {Level.WARN, Level.PASS}
    assert "DNS did not answer" in report.check("mx").why
