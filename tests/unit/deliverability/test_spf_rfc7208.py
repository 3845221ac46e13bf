"""RFC 7208, rule by rule: a case (or several) for every rule of §4 to §7, derived from the RFC's text.

Each case states the DNS it needs (`world`), so what it tests is visible in one line. Section numbers
in the ids and comments are RFC 7208's. The Appendix A examples use the RFC's own example zone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pot_deliverability import spf, spf_record
from pot_deliverability.spf import SpfResult

R = SpfResult


async def evaluate(
    world: Callable[..., Any],
    records: dict[str, list[str]],
    ip: str = "192.0.2.3",
    sender: str = "strong-bad@example.com",
    *,
    domain: str | None = None,
    helo: str = "",
    failing: tuple[str, ...] = (),
) -> spf.SpfOutcome:
    resolver = world(records, failing=failing)
    target = domain if domain is not None else sender.rpartition("@")[2] or helo
    return await spf.check_host(ip, target, sender, resolver, helo=helo)


def txt(record: str, name: str = "example.com") -> dict[str, list[str]]:
    return {f"{name} TXT": [record]}


# --- §4.3 initial processing: a malformed or single-label domain is "none", before any DNS ----------


@pytest.mark.parametrize(
    "domain",
    [
        "example..com",  # zero-length label not at the end
        "a" * 64 + ".example.com",  # label longer than 63 characters
        "localhost",  # not a multi-label domain
        "",
        ".",
        "../..",
        "\U0001f600.example",  # IDNA 2008 refuses the code point
        ".".join(["abcdefghi"] * 26) + ".com",  # 263 characters
        "exa mple.com",
    ],
    ids=["empty-label", "long-label", "single-label", "empty", "root", "dots", "emoji", "long-name", "space"],
)
async def test_4_3_malformed_domain_is_none_without_a_query(world: Any, domain: str) -> None:
    resolver = world(txt("v=spf1 +all"))
    outcome = await spf.check_host("192.0.2.3", domain, f"a@{domain}", resolver)
    assert outcome.result is R.NONE and resolver.queries == []
    assert "not a valid domain" in outcome.reason or "no domain" in outcome.reason


async def test_4_3_nxdomain_is_none(world: Any) -> None:
    assert (await evaluate(world, {}, sender="a@missing.example")).result is R.NONE


async def test_4_3_an_idn_is_looked_up_as_a_labels(world: Any) -> None:
    outcome = await evaluate(world, txt("v=spf1 +all", "xn--bcher-kva.example"), sender="a@bücher.example")
    assert outcome.result is R.PASS


async def test_4_3_a_sender_without_local_part_is_postmaster(world: Any) -> None:
    records = {**txt("v=spf1 exists:%{l}.ok.example.com -all"), "postmaster.ok.example.com A": ["127.0.0.2"]}
    assert (await evaluate(world, records, sender="@example.com")).result is R.PASS
    assert (await evaluate(world, records, sender="example.com")).result is R.PASS


async def test_4_3_an_empty_sender_checks_the_helo_identity(world: Any) -> None:
    records = {**txt("v=spf1 ip4:192.0.2.3 -all", "mail.example.com")}
    outcome = await evaluate(world, records, sender="", helo="mail.example.com")
    assert outcome.result is R.PASS


# --- §4.4 record lookup: DNS trouble is temperror ---------------------------------------------------


async def test_4_4_a_dns_error_on_the_txt_lookup_is_temperror(world: Any) -> None:
    outcome = await evaluate(world, {}, failing=("example.com",))
    assert outcome.result is R.TEMPERROR


# --- §4.5 selecting records ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        (["google-site-verification=x"], R.NONE),  # no record starts with the version
        (["v=spf10 +all"], R.NONE),  # a version section is ended by SP or the end of the record
        (["v=spf1\t+all"], R.NONE),  # a tab is no SP: not a version section
        (["v=spf1 +all", "v=spf1 -all"], R.PERMERROR),  # more than one record
        (["v=spf1 +all", "v=spf10 -all"], R.PASS),  # only exact version sections count
        (["V=SPF1 +ALL"], R.PASS),  # ABNF strings do not care about case
        (["v=spf1"], R.NEUTRAL),  # no terms at all: §4.7's default
        (["v=spf1 +all", "spf2.0/pra -all"], R.PASS),
    ],
    ids=["not-spf", "spf10", "tab", "two", "spf10-ignored", "case", "empty", "sender-id-ignored"],
)
async def test_4_5_which_txt_records_are_the_spf_record(
    world: Any, records: list[str], expected: SpfResult
) -> None:
    assert (await evaluate(world, {"example.com TXT": records})).result is expected


# --- §4.6 record evaluation: any syntax error anywhere makes the whole record a permerror -------------


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 +all foo:bar",  # an unknown mechanism after a match
        "v=spf1 +all ip4:192.0.2.300",  # a broken term that evaluation would never reach
        "v=spf1 ip4:192.0.2.3\t-all",  # terms are separated by SP only (§4.6.1)
        "v=spf1 ip4:192.0.2.3 \x00 -all",  # control characters are in no term
        "v=spf1 -all \u00e9",  # nor is anything outside visible ASCII
        "v=spf1 9x=y -all",  # a modifier name starts with a letter, so this is a mechanism: unknown
        "v=spf1 -",  # a qualifier without a mechanism
        "v=spf1 +-all",  # two qualifiers
        "v=spf1 redirect=a.example.com redirect=b.example.com",  # §6: at most one redirect
        "v=spf1 exp=a.example.com exp=b.example.com -all",  # §6: at most one exp
        "v=spf1 x-unknown=%{q} -all",  # unknown modifiers are ignored but their macro-string must parse
    ],
)
async def test_4_6_syntax_errors_anywhere_are_permerror(world: Any, record: str) -> None:
    assert (await evaluate(world, txt(record))).result is R.PERMERROR


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1  ip4:192.0.2.3   -all  ",  # 1*SP between terms, *SP at the end
        "v=spf1 x.y_z-1=anything ip4:192.0.2.3 -all",  # unknown modifiers with good names are ignored
        "v=spf1 exp=why.example.com ip4:192.0.2.3 -all",  # modifiers may come anywhere
        "v=spf1 IP4:192.0.2.3 -ALL",  # mechanism names are case-insensitive
    ],
)
async def test_4_6_well_formed_records_evaluate(world: Any, record: str) -> None:
    assert (await evaluate(world, txt(record))).result is R.PASS


async def test_4_6_2_the_first_matching_mechanism_decides(world: Any) -> None:
    outcome = await evaluate(world, txt("v=spf1 ~ip4:192.0.2.0/24 +ip4:192.0.2.3 -all"))
    assert (outcome.result, outcome.mechanism) == (R.SOFTFAIL, "~ip4:192.0.2.0/24")


@pytest.mark.parametrize(
    ("qualifier", "expected"),
    [("", R.PASS), ("+", R.PASS), ("-", R.FAIL), ("~", R.SOFTFAIL), ("?", R.NEUTRAL)],
)
async def test_4_6_2_qualifiers(world: Any, qualifier: str, expected: SpfResult) -> None:
    assert (await evaluate(world, txt(f"v=spf1 {qualifier}all"))).result is expected


# --- §4.6.4 DNS lookup limits -------------------------------------------------------------------------


def _a_terms(count: int) -> str:
    return " ".join(["a:h.example.com"] * count)


async def test_4_6_4_ten_dns_terms_are_allowed_the_eleventh_is_permerror(world: Any) -> None:
    host = {"h.example.com A": ["192.0.2.200"]}
    ten = await evaluate(world, {**txt(f"v=spf1 {_a_terms(10)} -all"), **host})
    eleven = await evaluate(world, {**txt(f"v=spf1 {_a_terms(11)} -all"), **host})
    assert (ten.result, ten.lookups) == (R.FAIL, 10)
    assert eleven.result is R.PERMERROR and "more than 10" in eleven.reason


async def test_4_6_4_the_limit_is_met_only_when_evaluation_gets_there(world: Any) -> None:
    host = {"h.example.com A": ["192.0.2.200"]}
    outcome = await evaluate(world, {**txt(f"v=spf1 ip4:192.0.2.3 {_a_terms(11)} -all"), **host})
    assert outcome.result is R.PASS


async def test_4_6_4_all_ip4_ip6_and_exp_do_not_count(world: Any) -> None:
    host = {"h.example.com A": ["192.0.2.200"]}
    record = f"v=spf1 ip4:198.51.100.1 ip6:2001:db8::1 {_a_terms(10)} exp=why.example.com -all"
    outcome = await evaluate(world, {**txt(record), **host, "why.example.com TXT": ["no"]})
    assert (outcome.result, outcome.lookups) == (R.FAIL, 10)


async def test_4_6_4_include_and_redirect_count(world: Any) -> None:
    records = {
        **txt("v=spf1 include:i.example.com redirect=r.example.com"),
        "i.example.com TXT": [f"v=spf1 {_a_terms(8)}"],
        "r.example.com TXT": ["v=spf1 a:h.example.com -all"],
        "h.example.com A": ["192.0.2.200"],
    }
    outcome = await evaluate(world, records)
    # include (1) + 8 a + redirect (1) = 10, and the redirected record's a is the eleventh.
    assert outcome.result is R.PERMERROR


async def test_4_6_4_two_void_lookups_are_allowed_the_third_is_permerror(world: Any) -> None:
    two = await evaluate(world, txt("v=spf1 a:gone1.example.com a:gone2.example.com -all"))
    three = await evaluate(
        world, txt("v=spf1 a:gone1.example.com a:gone2.example.com mx:gone3.example.com -all")
    )
    assert (two.result, two.void_lookups) == (R.FAIL, 2)
    assert three.result is R.PERMERROR and "void" in three.reason


async def test_4_6_4_a_name_with_no_address_records_is_void_too(world: Any) -> None:
    records = {
        **txt("v=spf1 a:n1.example.com a:n2.example.com a:n3.example.com -all"),
        "n1.example.com TXT": ["x"],
        "n2.example.com TXT": ["x"],
        "n3.example.com TXT": ["x"],
    }
    assert (await evaluate(world, records)).result is R.PERMERROR


async def test_4_6_4_an_mx_with_more_than_ten_exchanges_is_permerror(world: Any) -> None:
    records = {**txt("v=spf1 mx -all"), "example.com MX": [f"{i} mx{i}.example.com" for i in range(11)]}
    records |= {f"mx{i}.example.com A": ["192.0.2.3"] for i in range(11)}
    assert (await evaluate(world, records)).result is R.PERMERROR


async def test_4_6_4_ptr_names_beyond_ten_are_ignored(world: Any) -> None:
    names = [f"h{i}.other.example" for i in range(10)] + ["mail.example.com"]
    records = {
        **txt("v=spf1 ptr -all"),
        "3.2.0.192.in-addr.arpa PTR": names,
        **{f"{n} A": ["192.0.2.3"] for n in names},
    }
    assert (await evaluate(world, records)).result is R.FAIL


# --- §4.7 default result, §4.8 domain specification -------------------------------------------------


async def test_4_7_no_match_and_no_redirect_is_neutral(world: Any) -> None:
    outcome = await evaluate(world, txt("v=spf1 ip4:198.51.100.1"))
    assert outcome.result is R.NEUTRAL


async def test_4_8_a_mechanism_without_domain_uses_the_current_domain(world: Any) -> None:
    records = {**txt("v=spf1 a -all"), "example.com A": ["192.0.2.3"]}
    assert (await evaluate(world, records)).result is R.PASS


# --- §5.1 all -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("record", ["v=spf1 all:example.com", "v=spf1 all/24", "v=spf1 allx"])
async def test_5_1_all_takes_nothing(world: Any, record: str) -> None:
    assert (await evaluate(world, txt(record))).result is R.PERMERROR


# --- §5.2 include: how the included result maps ----------------------------------------------------------


@pytest.mark.parametrize(
    ("included", "expected"),
    [
        ("v=spf1 +all", R.PASS),  # pass: match
        ("v=spf1 -all", R.FAIL),  # fail: no match, go on to -all
        ("v=spf1 ~all", R.FAIL),  # softfail: no match
        ("v=spf1 ?all", R.FAIL),  # neutral: no match
        ("v=spf1 foo", R.PERMERROR),  # permerror: permerror
        ("not spf", R.PERMERROR),  # none: permerror
    ],
)
async def test_5_2_include_results(world: Any, included: str, expected: SpfResult) -> None:
    records = {**txt("v=spf1 include:i.example.com -all"), "i.example.com TXT": [included]}
    assert (await evaluate(world, records)).result is expected


async def test_5_2_include_temperror_is_temperror(world: Any) -> None:
    outcome = await evaluate(world, txt("v=spf1 include:i.example.com -all"), failing=("i.example.com",))
    assert outcome.result is R.TEMPERROR


async def test_5_2_include_of_a_missing_domain_is_permerror(world: Any) -> None:
    assert (await evaluate(world, txt("v=spf1 include:gone.example.com -all"))).result is R.PERMERROR


@pytest.mark.parametrize("record", ["v=spf1 include -all", "v=spf1 include: -all", "v=spf1 include:x.com/24"])
async def test_5_2_include_needs_a_domain_and_no_cidr(world: Any, record: str) -> None:
    assert (await evaluate(world, txt(record))).result is R.PERMERROR


# --- §5.3 a, §5.4 mx: address matching with dual CIDR lengths -----------------------------------------


@pytest.mark.parametrize(
    ("record", "ip", "expected"),
    [
        ("v=spf1 a:h.example.com -all", "192.0.2.3", R.PASS),
        ("v=spf1 a:h.example.com -all", "192.0.2.4", R.FAIL),  # no CIDR: /32
        ("v=spf1 a:h.example.com/24 -all", "192.0.2.4", R.PASS),
        ("v=spf1 a:h.example.com/0 -all", "203.0.113.9", R.PASS),
        ("v=spf1 a:h.example.com -all", "2001:db8::3", R.PASS),  # IPv6 client: AAAA records
        ("v=spf1 a:h.example.com -all", "2001:db8::4", R.FAIL),  # no CIDR: /128
        ("v=spf1 a:h.example.com//64 -all", "2001:db8::4", R.PASS),
        ("v=spf1 a:h.example.com/24//64 -all", "2001:db8::4", R.PASS),
        ("v=spf1 a:h.example.com/24//64 -all", "192.0.2.99", R.PASS),
        ("v=spf1 a/24 -all", "192.0.2.99", R.FAIL),  # example.com itself has no address here
        ("v=spf1 mx -all", "192.0.2.3", R.PASS),  # the exchange's addresses
        ("v=spf1 mx/24 -all", "192.0.2.77", R.PASS),
        ("v=spf1 mx:h.example.com -all", "192.0.2.3", R.FAIL),  # h has no MX: a void lookup
        ("v=spf1 mx//64 -all", "2001:db8::77", R.PASS),
    ],
)
async def test_5_3_and_5_4_address_matching(world: Any, record: str, ip: str, expected: SpfResult) -> None:
    records = {
        **txt(record),
        "h.example.com A": ["192.0.2.3"],
        "h.example.com AAAA": ["2001:db8::3"],
        "example.com MX": ["10 h.example.com"],
    }
    assert (await evaluate(world, records, ip)).result is expected


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 a/33",  # ip4-cidr-length is at most 32
        "v=spf1 a//129",  # ip6-cidr-length is at most 128
        "v=spf1 a/024",  # no leading zero
        "v=spf1 a//064",
        "v=spf1 a/",
        "v=spf1 a//",
        "v=spf1 mx/24/64",  # the IPv6 length needs two slashes
        "v=spf1 a:",  # ':' needs a domain-spec
        "v=spf1 mx:example.com:25",
    ],
)
async def test_5_3_and_5_4_bad_cidr_or_domain_is_permerror(world: Any, record: str) -> None:
    assert (await evaluate(world, txt(record))).result is R.PERMERROR


async def test_5_4_mx_skips_a_null_mx(world: Any) -> None:
    records = {**txt("v=spf1 mx -all"), "example.com MX": ["0 ."]}
    assert (await evaluate(world, records)).result is R.FAIL


# --- §5.5 ptr -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "ip", "expected"),
    [
        ("v=spf1 ptr -all", "192.0.2.3", R.PASS),  # validated name under the domain
        ("v=spf1 ptr -all", "192.0.2.4", R.FAIL),  # its forward lookup does not give the IP back
        ("v=spf1 ptr:other.example -all", "192.0.2.3", R.FAIL),
        ("v=spf1 ptr:mail.example.com -all", "192.0.2.3", R.PASS),  # the name itself matches too
        ("v=spf1 ptr -all", "192.0.2.5", R.FAIL),  # no PTR at all: no match, not an error
    ],
)
async def test_5_5_ptr(world: Any, record: str, ip: str, expected: SpfResult) -> None:
    records = {
        **txt(record),
        "3.2.0.192.in-addr.arpa PTR": ["mail.example.com"],
        "4.2.0.192.in-addr.arpa PTR": ["fake.example.com"],
        "mail.example.com A": ["192.0.2.3"],
        "fake.example.com A": ["203.0.113.1"],
    }
    assert (await evaluate(world, records, ip)).result is expected


@pytest.mark.parametrize("record", ["v=spf1 ptr/24", "v=spf1 ptr:", "v=spf1 ptr//64"])
async def test_5_5_ptr_takes_no_cidr(world: Any, record: str) -> None:
    assert (await evaluate(world, txt(record))).result is R.PERMERROR


# --- §5.6 ip4 and ip6 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "ip", "expected"),
    [
        ("ip4:192.0.2.3", "192.0.2.3", R.PASS),
        ("ip4:192.0.2.3", "192.0.2.4", R.FAIL),  # no length: /32
        ("ip4:192.0.2.0/24", "192.0.2.200", R.PASS),
        ("ip4:0.0.0.0/0", "203.0.113.1", R.PASS),
        ("ip4:192.0.2.3", "2001:db8::3", R.FAIL),  # an IPv6 client never matches ip4
        ("ip4:192.0.2.3", "::ffff:192.0.2.3", R.PASS),  # an IPv4-mapped client is the IPv4 client
        ("ip6:2001:db8::/32", "2001:db8:1::1", R.PASS),
        ("ip6:2001:db8::3", "2001:db8::4", R.FAIL),  # no length: /128
        ("ip6:2001:DB8::3", "2001:db8::3", R.PASS),  # hex digits in either case
        ("ip6:::ffff:192.0.2.0/120", "2001:db8::1", R.FAIL),
        ("ip6:2001:db8::/32", "192.0.2.3", R.FAIL),  # an IPv4 client never matches ip6
    ],
)
async def test_5_6_ip_networks(world: Any, term: str, ip: str, expected: SpfResult) -> None:
    assert (await evaluate(world, txt(f"v=spf1 {term} -all"), ip)).result is expected


@pytest.mark.parametrize(
    "term",
    [
        "ip4:192.0.2.300",  # qnum is at most 255
        "ip4:999.1.1.1",
        "ip4:192.0.2",  # four qnums
        "ip4:192.0.2.3.4",
        "ip4:192.0.2.03",  # no leading zero in a qnum
        "ip4:0x7f.0.0.1",
        "ip4:192.0.2.3/33",
        "ip4:192.0.2.3/032",
        "ip4:192.0.2.3/",
        "ip4:192.0.2.3//64",
        "ip4:2001:db8::1",  # an IPv6 address in ip4
        "ip4",
        "ip4:",
        "ip6:192.0.2.3",  # an IPv4 address in ip6
        "ip6:2001:db8::1/129",
        "ip6:2001:db8::1/0128",
        "ip6:2001:db8:::1",
        "ip6:fe80::1%eth0",  # zone ids are no part of RFC 4291 text
        "ip6:2001:db8::1//64",
    ],
)
async def test_5_6_malformed_ip_networks_are_permerror(world: Any, term: str) -> None:
    assert (await evaluate(world, txt(f"v=spf1 {term} -all"))).result is R.PERMERROR


# --- §5.7 exists ----------------------------------------------------------------------------------------


async def test_5_7_exists_matches_any_a_record_and_queries_a_for_ipv6_clients(world: Any) -> None:
    records = {**txt("v=spf1 exists:%{l}.ok.example.com -all"), "strong-bad.ok.example.com A": ["127.0.0.2"]}
    assert (await evaluate(world, records)).result is R.PASS
    assert (await evaluate(world, records, "2001:db8::1")).result is R.PASS
    assert (await evaluate(world, records, sender="other@example.com")).result is R.FAIL


@pytest.mark.parametrize("record", ["v=spf1 exists", "v=spf1 exists:", "v=spf1 exists:x.example.com/24"])
async def test_5_7_exists_needs_a_domain_and_no_cidr(world: Any, record: str) -> None:
    assert (await evaluate(world, txt(record))).result is R.PERMERROR


# --- §6.1 redirect ---------------------------------------------------------------------------------------


async def test_6_1_redirect_takes_the_target_s_result(world: Any) -> None:
    records = {**txt("v=spf1 redirect=r.example.com"), "r.example.com TXT": ["v=spf1 ~all"]}
    assert (await evaluate(world, records)).result is R.SOFTFAIL


async def test_6_1_redirect_is_ignored_when_all_is_present(world: Any) -> None:
    records = {**txt("v=spf1 ?all redirect=r.example.com"), "r.example.com TXT": ["v=spf1 -all"]}
    assert (await evaluate(world, records)).result is R.NEUTRAL


@pytest.mark.parametrize(
    "records",
    [
        {"example.com TXT": ["v=spf1 redirect=gone.example.com"]},  # no such domain
        {"example.com TXT": ["v=spf1 redirect=r.example.com"], "r.example.com TXT": ["no spf"]},
        {"example.com TXT": ["v=spf1 redirect=%{l}.example.com"]},  # expands, but there is nothing
    ],
)
async def test_6_1_redirect_to_no_record_is_permerror_not_none(world: Any, records: dict[str, Any]) -> None:
    assert (await evaluate(world, records)).result is R.PERMERROR


async def test_6_1_redirect_whose_expansion_is_no_domain_is_permerror(world: Any) -> None:
    records = txt("v=spf1 redirect=%{l}.example.com")
    outcome = await evaluate(world, records, sender='"a..b"@example.com')
    assert outcome.result is R.PERMERROR


# --- §6.2 exp -------------------------------------------------------------------------------------------


async def test_6_2_the_explanation_is_expanded_on_fail(world: Any) -> None:
    records = {
        **txt("v=spf1 -all exp=why.example.com"),
        "why.example.com TXT": ["%{i} may not send for %{d} (%{c}, %{r}, t=%{t}) see %{S}%_%%"],
    }
    outcome = await evaluate(world, records)
    assert outcome.result is R.FAIL and outcome.explanation is not None
    assert outcome.explanation.startswith("192.0.2.3 may not send for example.com (192.0.2.3, unknown, t=")
    assert outcome.explanation.endswith("see strong-bad%40example.com %")


@pytest.mark.parametrize(
    "why",
    [
        [],  # no TXT record
        ["one", "two"],  # more than one
        ["bad %{q} macro"],  # a syntax error in the explain-string
        ["bad %"],
    ],
)
async def test_6_2_trouble_with_the_explanation_means_none_and_the_result_stands(
    world: Any, why: list[str]
) -> None:
    records = {**txt("v=spf1 -all exp=why.example.com"), "why.example.com TXT": why}
    outcome = await evaluate(world, records)
    assert (outcome.result, outcome.explanation) == (R.FAIL, None)


async def test_6_2_an_included_record_s_exp_is_not_used(world: Any) -> None:
    records = {
        **txt("v=spf1 include:i.example.com -all"),
        "i.example.com TXT": ["v=spf1 -all exp=why.example.com"],
        "why.example.com TXT": ["from the include"],
    }
    outcome = await evaluate(world, records)
    assert (outcome.result, outcome.explanation) == (R.FAIL, None)


async def test_6_2_after_a_redirect_the_target_s_exp_is_used(world: Any) -> None:
    records = {
        **txt("v=spf1 redirect=r.example.com exp=orig.example.com"),
        "r.example.com TXT": ["v=spf1 -all exp=why.example.com"],
        "why.example.com TXT": ["from the target"],
        "orig.example.com TXT": ["from the original"],
    }
    assert (await evaluate(world, records)).explanation == "from the target"


# --- §7.1 macro and domain-spec grammar --------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "example",  # domain-end needs "." toplabel
        ".",  # a lone dot
        "example.com..",  # an empty top label
        "example.123",  # a top label of digits only
        "example.-com",  # a top label does not start with a hyphen
        "example.com-",  # nor end with one
        "exa_mple.c_m",  # nor hold an underscore
        "foo%.example.com",  # a "%" that is no macro
        "%{q}.example.com",  # no such macro letter
        "%{d0}.example.com",  # a digit transformer of zero
        "%{d.example.com",  # an unclosed macro
        "%{dx}.example.com",  # 'x' is no transformer or delimiter
        "%{c}.example.com",  # c, r and t only in explanations (§7.2)
        "%{r}.example.com",
        "%{t}.example.com",
        "ex\x7fample.com",  # DEL is not a visible character
        "exämple.com",  # nor is anything beyond ASCII
    ],
)
def test_7_1_bad_domain_specs_are_permerror(spec: str) -> None:
    for record in (f"v=spf1 a:{spec}", f"v=spf1 exists:{spec}", f"v=spf1 redirect={spec}"):
        with pytest.raises(spf_record.PermError):
            spf_record.parse_record(record)


@pytest.mark.parametrize(
    "spec",
    [
        "example.com",
        "example.com.",  # the final dot is allowed
        "_spf.example.com",  # underscores before the top label are macro-literals
        "mail.example.c0m",
        "example.1-2",  # a top label of digits with a hyphen is an LDH label
        "%{d}",  # a macro-expand as the domain-end
        "%{ir}.%{v}._spf.%{d2}",
        "%{l1r+-}.%{o}",
        "%{S}.%{L}.%{O}.%{D}.%{I}.%{P}.%{H}.%{V}.example.com",  # every letter, upper case too
        "%{d2r}.example.com",
        "%{d10}.example.com",
        "%{l.-+,/_=}.example.com",  # every delimiter
        "%%.example.com",
        "%-%_.example.com",
        "a/b.example.com",  # "/" is a macro-literal
    ],
)
def test_7_1_good_domain_specs_parse(spec: str) -> None:
    for record in (f"v=spf1 a:{spec}", f"v=spf1 exists:{spec}", f"v=spf1 redirect={spec}"):
        spf_record.parse_record(record)


# --- §7.3 macro expansion, with the examples of §7.4 --------------------------------------------------


def _ctx(ip: str = "192.0.2.3", sender: str = "strong-bad@email.example.com", helo: str = "") -> Any:
    return spf._Context(spf.ipaddress.ip_address(ip), sender, helo, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "expanded"),
    [
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ],
)
async def test_7_4_the_rfc_s_macro_examples(spec: str, expanded: str) -> None:
    assert await spf.expand(_ctx(), spec, "email.example.com") == expanded


async def test_7_4_the_rfc_s_ipv6_example() -> None:
    expanded = await spf.expand(_ctx("2001:db8::cb01"), "%{ir}.%{v}._spf.%{d2}", "email.example.com")
    assert expanded == "1.0.b.c." + "0." * 20 + "8.b.d.0.1.0.0.2.ip6._spf.example.com"


@pytest.mark.parametrize(
    ("spec", "expanded"),
    [
        ("%{h}", "mx.example.org"),  # the HELO name
        ("%{i}", "192.0.2.3"),
        ("%{v}", "in-addr"),
        ("%{S}", "strong-bad%40email.example.com"),  # upper case: URL-escaped
        ("%{L}", "strong-bad"),  # "-" is unreserved
        ("%%", "%"),
        ("%_", " "),
        ("%-", "%20"),
        ("%{l+}", "strong-bad"),  # a delimiter that does not occur splits nothing
        ("%{d0000002}", "example.com"),  # leading zeros in the digits are still a number
        ("%{o99}", "email.example.com"),  # more parts asked than there are: all of them
    ],
)
async def test_7_3_expansion_rules(spec: str, expanded: str) -> None:
    assert await spf.expand(_ctx(helo="mx.example.org"), spec, "email.example.com") == expanded


async def test_7_3_an_expansion_over_253_characters_loses_labels_on_the_left(world: Any) -> None:
    local = ".".join(["abcdefghij"] * 30)  # a 329-character local part
    records = {**txt("v=spf1 exists:%{l}.ok.example.com -all")}
    kept = ".".join(["abcdefghij"] * 21) + ".ok.example.com"  # the longest tail that fits in 253
    assert len(kept) <= 253 < len(kept) + 11
    records[f"{kept} A"] = ["127.0.0.2"]
    outcome = await evaluate(world, records, sender=f"{local}@example.com")
    assert outcome.result is R.PASS


async def test_7_3_ipv6_i_is_dotted_nibbles_and_c_is_compressed(world: Any) -> None:
    ctx = _ctx("2001:db8::cb01")
    assert await spf.expand(ctx, "%{i}", "x") == "2.0.0.1.0.d.b.8." + "0." * 20 + "c.b.0.1"
    assert await spf.expand(ctx, "%{c}", "x", explanation=True) == "2001:db8::cb01"
    assert await spf.expand(ctx, "%{v}", "x") == "ip6"


async def test_7_3_p_is_the_validated_name_or_unknown(world: Any) -> None:
    records = {
        **txt("v=spf1 exists:%{p}.ok.example.com -all"),
        "3.2.0.192.in-addr.arpa PTR": ["mail.example.com"],
        "mail.example.com A": ["192.0.2.3"],
        "mail.example.com.ok.example.com A": ["127.0.0.2"],
    }
    assert (await evaluate(world, records)).result is R.PASS
    assert (await evaluate(world, records, "192.0.2.9")).result is R.FAIL  # "unknown"


# --- Appendix A: the RFC's example zone and what it says each record does ------------------------------

APPENDIX_A: dict[str, list[str]] = {
    "example.com MX": ["10 mail-a.example.com", "20 mail-b.example.com"],
    "example.com A": ["192.0.2.10", "192.0.2.11"],
    "amy.example.com A": ["192.0.2.65"],
    "bob.example.com A": ["192.0.2.66"],
    "mail-a.example.com A": ["192.0.2.129"],
    "mail-b.example.com A": ["192.0.2.130"],
    "example.org MX": ["10 mail-c.example.org"],
    "mail-c.example.org A": ["192.0.2.140"],
    "10.2.0.192.in-addr.arpa PTR": ["example.com"],
    "11.2.0.192.in-addr.arpa PTR": ["example.com"],
    "65.2.0.192.in-addr.arpa PTR": ["amy.example.com"],
    "66.2.0.192.in-addr.arpa PTR": ["bob.example.com"],
    "129.2.0.192.in-addr.arpa PTR": ["mail-a.example.com"],
    "130.2.0.192.in-addr.arpa PTR": ["mail-b.example.com"],
    "140.2.0.192.in-addr.arpa PTR": ["mail-c.example.org"],
    "4.0.0.10.in-addr.arpa PTR": ["bob.example.com"],
}
HOSTS = ["192.0.2.10", "192.0.2.11", "192.0.2.65", "192.0.2.129", "192.0.2.130", "192.0.2.140", "10.0.0.4"]


@pytest.mark.parametrize(
    ("record", "passing"),
    [
        ("v=spf1 +all", set(HOSTS)),
        ("v=spf1 a -all", {"192.0.2.10", "192.0.2.11"}),
        ("v=spf1 a:example.org -all", set()),
        ("v=spf1 mx -all", {"192.0.2.129", "192.0.2.130"}),
        ("v=spf1 mx:example.org -all", {"192.0.2.140"}),
        ("v=spf1 mx mx:example.org -all", {"192.0.2.129", "192.0.2.130", "192.0.2.140"}),
        ("v=spf1 mx/30 mx:example.org/30 -all", {"192.0.2.129", "192.0.2.130", "192.0.2.140"}),
        ("v=spf1 ptr -all", {"192.0.2.10", "192.0.2.11", "192.0.2.65", "192.0.2.129", "192.0.2.130"}),
        ("v=spf1 ip4:192.0.2.128/28 -all", {"192.0.2.129", "192.0.2.130", "192.0.2.140"}),
    ],
)
async def test_appendix_a_1_simple_examples(world: Any, record: str, passing: set[str]) -> None:
    records = {**APPENDIX_A, "example.com TXT": [record]}
    results = {ip: (await evaluate(world, records, ip, "a@example.com")).result for ip in HOSTS}
    assert {ip for ip, r in results.items() if r is R.PASS} == passing
    assert {r for ip, r in results.items() if ip not in passing} <= {R.FAIL}
