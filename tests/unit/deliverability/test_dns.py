"""The resolver factory: every form POT_DNS_RESOLVER takes, IPv6 included, and the system fallback."""

from __future__ import annotations

import pytest
from pot_deliverability.dns import DnsResolver, make_resolver, parse_resolver_address, resolver_from_env


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        (" 127.0.0.1:5353 ", ("127.0.0.1", 5353)),
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
        ("2001:db8::53", ("2001:db8::53", 53)),  # the last group is part of the address, not a port
        ("dns.example:53", ("dns.example", 53)),
        ("dns.example", ("dns.example", 53)),
    ],
)
def test_resolver_addresses_parse(value: str, expected: tuple[str, int]) -> None:
    assert parse_resolver_address(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "  ",
        "127.0.0.1:",
        "127.0.0.1:dns",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        ":53",
        "[::1",
        "[::1]53",
        "[dns.example]:53",
    ],
)
def test_bad_resolver_addresses_say_so(value: str) -> None:
    with pytest.raises(ValueError, match="resolver address"):
        parse_resolver_address(value)


@pytest.mark.parametrize(
    ("value", "nameservers", "port"),
    [
        ("127.0.0.1:5353", ["127.0.0.1"], 5353),
        ("[::1]:5353", ["::1"], 5353),
        ("::1", ["::1"], 53),
        ("127.0.0.1", ["127.0.0.1"], 53),
    ],
)
def test_make_resolver_points_at_the_address(value: str, nameservers: list[str], port: int) -> None:
    resolver = make_resolver(value, timeout=1.5)
    assert (resolver.nameservers, resolver.port) == (nameservers, port)
    assert (resolver.timeout, resolver.lifetime) == (1.5, 1.5)


def test_a_host_name_is_looked_up_once_through_the_system() -> None:
    resolver = make_resolver("localhost:5353")
    assert resolver.port == 5353
    assert set(map(str, resolver.nameservers)) <= {"127.0.0.1", "::1"}


def test_an_unknown_host_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="does not resolve"):
        make_resolver("no-such-host.invalid:53")


@pytest.mark.parametrize("value", [None, "", "  "])
def test_empty_means_the_system_resolver(value: str | None) -> None:
    resolver = make_resolver(value)
    assert resolver.port == 53 and resolver.lifetime == 3.0


def test_resolver_from_env_prefers_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POT_DNS_RESOLVER", "[::1]:5300")
    assert resolver_from_env().address == "[::1]:5300"
    assert resolver_from_env("127.0.0.1:5301").address == "127.0.0.1:5301"
    monkeypatch.delenv("POT_DNS_RESOLVER")
    assert isinstance(resolver_from_env(), DnsResolver) and resolver_from_env().address is None
