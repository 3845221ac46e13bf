"""DKIM key records, DMARC records and alignment, MX with null and implicit MX."""

from __future__ import annotations

from typing import Any

import pytest
from pot_deliverability import dkim, dmarc, mx


def test_dkim_ed25519_key_is_accepted() -> None:
    key = dkim.parse_key_record("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    assert (key.key_type, key.bits, key.revoked) == ("ed25519", 256, False)


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ("v=DKIM1; k=rsa", "no p="),
        ("v=DKIM1; p=!!!", "base64"),
        ("v=DKIM2; p=AAAA", "not DKIM1"),
        ("v=DKIM1; k=dsa; p=AAAA", "unknown key type"),
        ("v=DKIM1; p=AAAA", "DER"),
        ("v=DKIM1; p=AAAA; p=BBBB", "twice"),
    ],
)
def test_dkim_records_that_do_not_parse(record: str, error: str) -> None:
    with pytest.raises(dkim.DkimParseError, match=error):
        dkim.parse_key_record(record)


def test_dmarc_record_parsing() -> None:
    record = dmarc.parse_record(
        "v=DMARC1; p=reject; sp=none; adkim=s; pct=50; rua=mailto:a@x.test,mailto:b@x.test"
    )
    assert (record.policy, record.subdomain_policy, record.adkim, record.aspf, record.pct) == (
        "reject",
        "none",
        "s",
        "r",
        50,
    )
    assert record.rua == ("mailto:a@x.test", "mailto:b@x.test")


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ("p=reject", "v=DMARC1"),
        ("v=DMARC1; sp=none", "no p="),
        ("v=DMARC1; p=sometimes", "not one of"),
    ],
)
def test_dmarc_records_that_do_not_parse(record: str, error: str) -> None:
    with pytest.raises(dmarc.DmarcParseError, match=error):
        dmarc.parse_record(record)


def test_alignment_relaxed_and_strict() -> None:
    assert dmarc.aligned("news.good.test", "good.test", "r")
    assert not dmarc.aligned("news.good.test", "good.test", "s")
    assert not dmarc.aligned("good.test", "acme-mail.test", "r")


@pytest.mark.parametrize(
    ("domain", "org"),
    [
        ("news.good.test", "good.test"),
        ("good.test.", "good.test"),
        ("mail.Example.co.uk", "example.co.uk"),
        ("a.b.example.com", "example.com"),
        ("co.uk", "co.uk"),
        ("team.github.io", "team.github.io"),  # a private suffix: each owner is its own organization
    ],
)
def test_organizational_domain_follows_the_public_suffix_list(domain: str, org: str) -> None:
    assert dmarc.organizational_domain(domain) == org


def test_relaxed_alignment_never_joins_two_owners_of_one_public_suffix() -> None:
    assert dmarc.aligned("news.example.co.uk", "example.co.uk", "r")
    assert not dmarc.aligned("example.co.uk", "evil.co.uk", "r")  # "the last two labels" said aligned


async def test_dmarc_falls_back_to_the_organizational_domain(zone_resolver: Any) -> None:
    record = await dmarc.find_record("news.good.test", zone_resolver)
    assert record is not None and record.found_at == "_dmarc.good.test"


@pytest.mark.parametrize(
    ("domain", "status", "hosts"),
    [
        ("good.test", mx.MxStatus.OK, ("mx.good.test",)),
        ("nullmx.test", mx.MxStatus.NULL_MX, ()),
        ("nomx.test", mx.MxStatus.NONE, ()),
        ("bare.pf.test", mx.MxStatus.IMPLICIT, ("bare.pf.test",)),
        ("nosuchdomain.test", mx.MxStatus.NXDOMAIN, ()),
    ],
)
async def test_mx_lookup(
    domain: str, status: mx.MxStatus, hosts: tuple[str, ...], zone_resolver: Any
) -> None:
    result = await mx.lookup_mx(domain, zone_resolver)
    assert (result.status, result.hosts) == (status, hosts)
