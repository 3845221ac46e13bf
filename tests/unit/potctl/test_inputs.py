"""potctl's input checks: what each accepts as it is used, and the sentence each refusal says."""

from __future__ import annotations

import pytest
from potctl import inputs
from potctl.inputs import BadInput


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Example.COM.", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("_dmarc.x.test", "_dmarc.x.test"),
    ],
)
def test_domains_come_back_as_dns_takes_them(value: str, expected: str) -> None:
    assert inputs.domain(value) == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "it is empty"),
        (".", "the root"),
        ("../..", "empty label"),
        ("a" * 64 + ".example", "label longer than 63"),
        ("x." * 130 + "com", "longer than 253"),
        ("\U0001f600.example", "internationalised"),
        ("localhost", "single label"),
        ("exa mple.com", "cannot hold"),
    ],
)
def test_bad_domains_say_which_and_why(value: str, why: str) -> None:
    with pytest.raises(BadInput, match=why) as caught:
        inputs.domain(value)
    assert str(caught.value).startswith(f"domain {inputs.shown(value)}: ")


def test_a_huge_value_is_shown_cut_short() -> None:
    with pytest.raises(BadInput) as caught:
        inputs.domain("a" * 100_000_000)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize("value", ["999.1.1.1", "1.2.3", "", "::g", "127.0.0.1/8"])
def test_ips(value: str) -> None:
    with pytest.raises(BadInput, match="not an IPv4 or IPv6 address"):
        inputs.ip(value)
    assert inputs.ip(" 2001:DB8::1 ") == "2001:db8::1"


def test_hosts_are_ip_literals_or_names() -> None:
    assert inputs.host("127.0.0.1", "--smtp-host") == "127.0.0.1"
    assert inputs.host("MX.good.test", "--smtp-host") == "mx.good.test"
    assert inputs.host("localhost", "--smtp-host") == "localhost"
    with pytest.raises(BadInput, match="--smtp-host"):
        inputs.host("a..b", "--smtp-host")


def test_addresses_are_normalised_and_refused_with_the_reason() -> None:
    assert inputs.address("Bob@X.test") == "bob@x.test"
    with pytest.raises(BadInput, match="bad syntax"):
        inputs.address("not-an-address")
    with pytest.raises(BadInput, match="not an address"):
        inputs.address("x" * 100_007)


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (lambda: inputs.text("a\x00b", "--source"), "not printable"),
        (lambda: inputs.text("", "--tenant"), "is empty"),
        (lambda: inputs.name(" acme", "--tenant"), "white space"),
        (lambda: inputs.text("x" * 2000, "--source"), "at most 1000"),
        (lambda: inputs.selectors(["ok", "bad_selector"]), "not a selector"),
        (lambda: inputs.resolver("127.0.0.1:0"), "--resolver"),
        (lambda: inputs.blocklists("bl.test,domain:a..b"), "--blocklists zone"),
        (lambda: inputs.choice("yaml", ("table", "json"), "--output"), "must be table or json"),
        (lambda: inputs.at_least(0, 1, "--per-host"), "at least 1"),
        (lambda: inputs.seconds(float("nan"), "--interval"), "number of seconds"),
        (lambda: inputs.port(70000), "from 1 to 65535"),
        (lambda: inputs.campaign("no-slash"), "NAMESPACE/NAME"),
        (lambda: inputs.kube_name("Acme_Pool"), "not a Kubernetes object name"),
        (lambda: inputs.kube_namespace("a" * 64), "not a namespace name"),
        (lambda: inputs.pause_reason("x" * 257), "at most 256"),
    ],
)
def test_every_refusal_names_the_input(check: object, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        check()  # type: ignore[operator]


def test_good_values_pass_through() -> None:
    assert inputs.campaign("acme/spring-launch") == ("acme", "spring-launch")
    assert inputs.kube_name("acme-outreach.v2") == "acme-outreach.v2"
    assert inputs.pause_reason("[ops] DNS change") == "[ops] DNS change"
    assert inputs.selectors(["Pot", "s1.mail"]) == ("pot", "s1.mail")
    assert [z.zone for z in inputs.blocklists("bl.test, domain:dbl.test")] == ["bl.test", "dbl.test"]
