"""RFC 7489, rule by rule: record syntax (§6.3, §6.4), policy discovery (§6.6.3), alignment (§3.1)."""

from __future__ import annotations

from typing import Any

import pytest
from pot_deliverability import dmarc
from pot_deliverability.dmarc import DmarcParseError, parse_record

# --- §6.3/§6.4 the v tag: first, and DMARC1 exactly ------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        "p=reject",  # no v at all
        "p=reject; v=DMARC1",  # v is not first
        "v=dmarc1; p=reject",  # %x44 %x4d %x41 %x52 %x43 %x31: the version is case-sensitive
        "v=DMARC2; p=reject",
        "v=DMARC1x; p=reject",
        "v:DMARC1; p=reject",
        "",
    ],
)
def test_6_4_a_record_starts_with_v_DMARC1(record: str) -> None:
    with pytest.raises(DmarcParseError, match="v=DMARC1"):
        parse_record(record)


@pytest.mark.parametrize(
    "record",
    [
        "v=DMARC1; p=reject",
        "v = DMARC1 ; p = reject",  # *WSP around "=" and ";"
        "v=DMARC1;\tp=reject;",  # a tab is WSP; a final separator is allowed
        "V=DMARC1; P=REJECT",  # tag names and keyword values are ABNF strings: any case
    ],
)
def test_6_4_white_space_and_case(record: str) -> None:
    assert parse_record(record).policy == "reject"


# --- §6.3 p and sp: required and valid, else only rua saves the record (§6.6.3 step 6) ----------------


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ("v=DMARC1", "no p="),
        ("v=DMARC1; sp=none", "no p="),
        ("v=DMARC1; p=sometimes", "not one of"),
        ("v=DMARC1; p=", "not one of"),
        ("v=DMARC1; p=reject; sp=bogus", "sp="),
        ("v=DMARC1; p=bogus; rua=not a uri", "not one of"),  # rua with no valid URI does not help
    ],
)
def test_6_6_3_an_invalid_policy_without_rua_means_no_dmarc(record: str, why: str) -> None:
    with pytest.raises(DmarcParseError, match=why):
        parse_record(record)


@pytest.mark.parametrize(
    "record",
    ["v=DMARC1; rua=mailto:r@example.com", "v=DMARC1; p=bogus; rua=mailto:r@example.com"],
)
def test_6_6_3_an_invalid_policy_with_rua_is_p_none(record: str) -> None:
    parsed = parse_record(record)
    assert (parsed.policy, parsed.subdomain_policy) == ("none", "none")
    assert any("act as if p=none" in p for p in parsed.problems)


def test_6_3_sp_defaults_to_p() -> None:
    assert parse_record("v=DMARC1; p=quarantine").subdomain_policy == "quarantine"
    assert parse_record("v=DMARC1; p=quarantine; sp=reject").subdomain_policy == "reject"


# --- §6.3 the other tags: defaults, and syntax errors set aside for them -------------------------------


def test_6_3_defaults() -> None:
    parsed = parse_record("v=DMARC1; p=none")
    assert (parsed.adkim, parsed.aspf, parsed.pct, parsed.interval) == ("r", "r", 100, 86400)
    assert (parsed.failure_options, parsed.report_formats, parsed.rua, parsed.ruf) == (
        ("0",),
        ("afrf",),
        (),
        (),
    )
    assert parsed.problems == ()


def test_6_3_every_tag_read() -> None:
    parsed = parse_record(
        "v=DMARC1; p=reject; sp=none; adkim=s; aspf=s; pct=25; ri=3600; fo=1:d:s; rf=afrf; "
        "rua=mailto:a@example.com,mailto:b@example.com!10m; ruf=mailto:f@example.com"
    )
    assert (parsed.policy, parsed.subdomain_policy, parsed.adkim, parsed.aspf) == ("reject", "none", "s", "s")
    assert (parsed.pct, parsed.interval, parsed.failure_options) == (25, 3600, ("1", "d", "s"))
    assert parsed.rua == ("mailto:a@example.com", "mailto:b@example.com!10m")
    assert parsed.ruf == ("mailto:f@example.com",)
    assert parsed.problems == ()


@pytest.mark.parametrize(
    ("tail", "attribute", "default", "problem"),
    [
        ("adkim=x", "adkim", "r", "adkim="),
        ("aspf=relaxed", "aspf", "r", "aspf="),
        ("pct=150", "pct", 100, "pct="),  # 0-100
        ("pct=-1", "pct", 100, "pct="),
        ("pct=1000", "pct", 100, "pct="),  # 1*3DIGIT
        ("pct=fifty", "pct", 100, "pct="),
        ("ri=soon", "interval", 86400, "ri="),
        ("fo=2", "failure_options", ("0",), "fo="),
        ("fo=0;1", "failure_options", ("0",), "is no tag=value"),  # "1" alone is no tag-spec
        ("rf=a f", "report_formats", ("afrf",), "rf="),
        ("rua=reports@example.com", "rua", (), "rua="),  # a URI needs its scheme
        ("rua=mailto:a@example.com!big", "rua", (), "rua="),  # the size is digits and a unit
    ],
)
def test_6_3_syntax_errors_fall_back_to_the_default(
    tail: str, attribute: str, default: Any, problem: str
) -> None:
    parsed = parse_record(f"v=DMARC1; p=reject; {tail}")
    assert parsed.policy == "reject"
    assert getattr(parsed, attribute) == default
    assert any(problem in p for p in parsed.problems), parsed.problems


def test_6_3_unknown_tags_are_ignored_without_complaint() -> None:
    parsed = parse_record("v=DMARC1; p=reject; np=none; psd=y; future=1")
    assert parsed.policy == "reject" and parsed.problems == ()


def test_a_tag_given_twice_keeps_the_first_and_says_so() -> None:
    parsed = parse_record("v=DMARC1; p=reject; p=none")
    assert parsed.policy == "reject" and "given twice" in parsed.problems[0]


def test_6_4_invalid_uris_are_dropped_and_valid_ones_kept() -> None:
    parsed = parse_record("v=DMARC1; p=none; rua=mailto:a@example.com, nonsense ,https://r.example/x")
    assert parsed.rua == ("mailto:a@example.com", "https://r.example/x")
    assert len(parsed.problems) == 1


# --- §6.6.3 policy discovery ---------------------------------------------------------------------------


async def test_6_6_3_the_from_domain_s_record_first(world: Any) -> None:
    resolver = world(
        {
            "_dmarc.news.example.com TXT": ["v=DMARC1; p=reject"],
            "_dmarc.example.com TXT": ["v=DMARC1; p=none"],
        }
    )
    record = await dmarc.find_record("news.example.com", resolver)
    assert record is not None and (record.policy, record.found_at) == ("reject", "_dmarc.news.example.com")


async def test_6_6_3_else_the_organizational_domain_s(world: Any) -> None:
    resolver = world({"_dmarc.example.com TXT": ["v=DMARC1; p=none"]})
    record = await dmarc.find_record("a.b.news.example.com", resolver)
    assert record is not None and record.found_at == "_dmarc.example.com"


async def test_6_6_3_records_without_the_version_are_discarded(world: Any) -> None:
    resolver = world(
        {
            "_dmarc.news.example.com TXT": ["something else"],
            "_dmarc.example.com TXT": ["v=DMARC1; p=quarantine"],
        }
    )
    record = await dmarc.find_record("news.example.com", resolver)
    assert record is not None and record.policy == "quarantine"


async def test_6_6_3_a_miscased_version_is_discarded_and_named_when_nothing_else_is_found(world: Any) -> None:
    resolver = world({"_dmarc.example.com TXT": ["v=dmarc1; p=reject"]})
    with pytest.raises(DmarcParseError, match="does not start with v=DMARC1"):
        await dmarc.find_record("example.com", resolver)


async def test_6_6_3_several_records_end_discovery(world: Any) -> None:
    resolver = world({"_dmarc.example.com TXT": ["v=DMARC1; p=none", "v=DMARC1; p=reject"]})
    with pytest.raises(DmarcParseError, match="2 DMARC records"):
        await dmarc.find_record("example.com", resolver)


async def test_6_6_3_no_record_anywhere_is_none(world: Any) -> None:
    assert await dmarc.find_record("news.example.com", world({"example.com A": ["192.0.2.1"]})) is None


# --- §3.1 identifier alignment, §3.2 organizational domains ------------------------------------------


@pytest.mark.parametrize(
    ("from_domain", "auth_domain", "mode", "expected"),
    [
        ("example.com", "example.com", "s", True),
        ("news.example.com", "example.com", "s", False),  # strict: exactly the same name
        ("news.example.com", "example.com", "r", True),  # relaxed: the same organizational domain
        ("news.example.com", "mail.example.com", "r", True),
        ("Example.COM.", "example.com", "s", True),  # names compare without case or final dot
        ("example.com", "example.net", "r", False),
        ("example.co.uk", "evil.co.uk", "r", False),  # one public suffix, two owners
    ],
)
def test_3_1_alignment(from_domain: str, auth_domain: str, mode: str, expected: bool) -> None:
    assert dmarc.aligned(from_domain, auth_domain, mode) is expected
