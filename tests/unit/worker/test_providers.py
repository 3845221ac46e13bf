"""Provider grouping by MX (pot_worker.providers): the pure grouping, and the resolver's cache."""

from __future__ import annotations

import asyncio

import pytest
from pot_deliverability.dns import Answer, DnsTemporaryError, Status
from pot_worker.providers import ProviderResolver, provider_for


@pytest.mark.parametrize(
    ("domain", "mx", "provider"),
    [
        (
            "gmail.com",
            [(5, "gmail-smtp-in.l.google.com."), (10, "alt1.gmail-smtp-in.l.google.com.")],
            "google",
        ),
        ("acme.com", [(1, "aspmx.l.google.com.")], "google"),
        ("old.com", [(10, "aspmx2.googlemail.com.")], "google"),
        ("contoso.com", [(0, "contoso-com.mail.protection.outlook.com.")], "microsoft365"),
        ("outlook.com", [(5, "outlook-com.olc.protection.outlook.com.")], "outlook"),
        ("yahoo.com", [(1, "mta5.am0.yahoodns.net.")], "yahoo"),
        ("good.test", [(10, "mx.good.test.")], "good.test"),
        ("a.test", [(20, "mx2.hoster.net."), (10, "mx1.hoster.net.")], "hoster.net"),
        ("nomx.test", [], "nomx.test"),
        ("nullmx.test", [(0, ".")], "nullmx.test"),
        ("Upper.TEST", [], "upper.test"),
        ("a.co.uk", [(10, "mx1.mail.hostco.co.uk.")], "hostco.co.uk"),  # not all of "co.uk"
        ("b.co.uk", [(10, "mx.otherhost.co.uk.")], "otherhost.co.uk"),
        ("c.example", [(10, "localhost")], "localhost"),
    ],
)
def test_provider_for(domain: str, mx: list[tuple[int, str]], provider: str) -> None:
    assert provider_for(domain, mx) == provider


def test_lowest_preference_wins() -> None:
    assert (
        provider_for("x.test", [(30, "mx.third.net"), (5, "mx.first.net"), (10, "mx.second.net")])
        == "first.net"
    )


class FakeDns:
    """DnsResolver.lookup from a dict of MX answers; an exception as a value is raised."""

    def __init__(self, answers: dict[str, Answer | Exception]) -> None:
        self.answers = answers
        self.queries: list[str] = []

    async def lookup(self, name: str, rdtype: str) -> Answer:
        self.queries.append(name)
        await asyncio.sleep(0)
        answer = self.answers[name]
        if isinstance(answer, Exception):
            raise answer
        return answer


def resolver(answers: dict[str, Answer | Exception]) -> tuple[ProviderResolver, FakeDns]:
    fake = FakeDns(answers)
    providers = ProviderResolver(None)
    providers._resolver = fake  # type: ignore[assignment]
    return providers, fake


async def test_the_resolver_groups_by_mx_and_asks_once_per_domain() -> None:
    providers, dns = resolver(
        {
            "acme.com": Answer(Status.OK, ("10 alt.aspmx.l.google.com", "1 aspmx.l.google.com")),
            "gone.test": Answer(Status.NXDOMAIN),
            "nomail.test": Answer(Status.OK, ("0 .",)),  # null MX (RFC 7505)
        }
    )
    both = await asyncio.gather(providers.provider("ACME.com"), providers.provider("acme.com"))
    assert both == ["google", "google"]
    assert await providers.provider("gone.test") == "gone.test"
    assert await providers.provider("nomail.test") == "nomail.test"
    await providers.provider("acme.com")
    assert dns.queries == ["acme.com", "gone.test", "nomail.test"]


async def test_a_failed_lookup_groups_the_domain_by_itself_for_a_while() -> None:
    providers, dns = resolver({"slow.test": DnsTemporaryError("MX slow.test: Timeout")})
    assert await providers.provider("slow.test") == "slow.test"
    assert await providers.provider("slow.test") == "slow.test"
    assert dns.queries == ["slow.test"]
    providers._failures.clock = lambda: float("inf")  # the failure's minute is over
    dns.answers["slow.test"] = Answer(Status.OK, ("5 mx.hoster.net",))
    assert await providers.provider("slow.test") == "hoster.net"
